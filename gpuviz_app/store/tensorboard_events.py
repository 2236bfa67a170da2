"""TensorBoard events into plain arrays: scalar rows and histogram buckets per tag.

Events are parsed with TensorBoard's own protocol buffers (`tensorboard.compat.proto`), in
both of its summary forms: the first (a `simple_value` scalar, a `HistogramProto`), written
by PyTorch's `SummaryWriter` and TensorFlow 1, and the second (a tensor whose plugin, named
in the tag's first event, says what it holds: a scalar, or (k, 3) histogram buckets of left
edge, right edge and count), written by TensorFlow 2 and Keras. Tags of a run in a
subfolder of the log directory are prefixed with the folder (`train/loss`, `val/loss`).

When a tag's steps go back (training resumed from an earlier checkpoint), the later values
replace the earlier ones from that step on, as TensorBoard does.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from gpuviz_app.store.tensorboard_records import FileDamage, read_records

log = logging.getLogger(__name__)

SCALAR_PLUGINS = {"scalars"}
HISTOGRAM_PLUGINS = {"histograms"}
CHUNK = 2048  # histograms of a tag gathered into flat arrays at a time
COMPACT_ABOVE = 256  # buckets (a column's bins: fewer, uniform buckets are kept as logged)


@dataclass
class Histograms:
    """One tag's histograms, one per logged step, ascending.

    Step i's bucket edges are `edges[offsets[i] : offsets[i + 1]]` (non-decreasing, within
    [lo[i], hi[i]]) and `cum` at the same indices the counts below each edge (0 first)."""

    steps: np.ndarray  # (n,) int64
    lo: np.ndarray  # (n,) float64: smallest value
    hi: np.ndarray  # (n,) float64: largest value
    offsets: np.ndarray  # (n + 1,) int64
    edges: np.ndarray  # float64
    cum: np.ndarray  # float64

    @property
    def totals(self) -> np.ndarray:
        return self.cum[self.offsets[1:] - 1]

    def counts(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Step i's bucket edges and counts, as logged (after clipping to its value range)."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.edges[a:b], np.diff(self.cum[a:b])


@dataclass
class Events:
    """Everything imported from a log directory."""

    scalars: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n, 2) float64 step, value
    histograms: dict[str, Histograms] = field(default_factory=dict)
    wall_times: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (n, 2) step, wall time
    warnings: list[str] = field(default_factory=list)
    size_bytes: int = 0


class _Collector:
    def __init__(self) -> None:
        self.scalars: dict[str, tuple[list, list]] = {}
        self.hists: dict[str, tuple[list, ...]] = {}  # name -> steps, lo, hi, pending edges, counts, chunks
        self.plugins: dict[str, str] = {}
        self.walls: list[tuple[int, float]] = []
        self.undecodable = 0
        self.bad_histograms = 0
        self.other: set[str] = set()

    def add_scalar(self, name: str, step: int, value: float) -> None:
        steps, values = self.scalars.setdefault(name, ([], []))
        steps.append(step)
        values.append(value)

    def add_histogram(self, name: str, step: int, lo: float, hi: float, edges: np.ndarray,
                      counts: np.ndarray) -> None:
        """Checked per tag, all at once, in `_histograms`; gathered into flat arrays every CHUNK
        histograms (so the many small arrays are never all held at once)."""
        entries = self.hists.get(name)
        if entries is None:
            entries = self.hists[name] = ([], [], [], [], [], [])
        for column, item in zip(entries, (step, lo, hi, edges, counts)):
            column.append(item)
        if len(entries[3]) == CHUNK:
            _gather(entries)


def _gather(entries: tuple[list, ...]) -> None:
    """A tag's pending histograms as one flat chunk (edges, counts, bucket count of each)."""
    pending_edges, pending_counts, chunks = entries[3:]
    if pending_counts:
        sizes = np.fromiter(map(len, pending_counts), np.int64, len(pending_counts))
        chunks.append(_compact(np.concatenate(pending_edges), np.concatenate(pending_counts), sizes))
        pending_edges.clear()
        pending_counts.clear()


def _packed_doubles(h) -> tuple[np.ndarray, np.ndarray]:
    """`bucket_limit` and `bucket` of a HistogramProto as arrays, read from its serialized
    packed fields (faster than converting the repeated fields element by element)."""
    data = h.SerializeToString()
    found: dict[int, np.ndarray] = {}
    at, end = 0, len(data)
    while at < end:
        key = data[at]
        at += 1
        field, wire = key >> 3, key & 7
        if key < 0x80 and wire == 1:  # min, max, num, sum, sum_squares
            at += 8
        elif key < 0x80 and wire == 2 and field in (6, 7):
            length = shift = 0
            while True:
                byte = data[at]
                at += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            if length % 8 or at + length > end:
                break
            found[field] = np.frombuffer(data, "<f8", length // 8, at)
            at += length
        else:
            break
    else:
        empty = np.zeros(0)
        return found.get(6, empty), found.get(7, empty)
    # not the layout every TensorBoard writer makes: convert the usual way
    return np.array(h.bucket_limit, np.float64), np.array(h.bucket, np.float64)


def _v1_histogram(h) -> tuple[float, float, np.ndarray, np.ndarray]:
    limits, counts = _packed_doubles(h)
    edges = np.empty(len(limits) + 1)
    edges[0] = h.min
    edges[1:-1] = limits[:-1]
    edges[-1] = h.max
    return float(h.min), float(h.max), edges, counts


def _tensor(value) -> np.ndarray | None:
    from tensorboard.util import tensor_util

    try:
        return np.asarray(tensor_util.make_ndarray(value.tensor), np.float64)
    except Exception:  # noqa: BLE001 - a malformed tensor is skipped like any unreadable value
        return None


def _read_value(c: _Collector, name: str, step: int, value) -> None:
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        c.add_scalar(name, step, float(value.simple_value))
    elif kind == "histo":
        lo, hi, edges, counts = _v1_histogram(value.histo)
        c.add_histogram(name, step, lo, hi, edges, counts)
    elif kind == "tensor":
        plugin = value.metadata.plugin_data.plugin_name if value.HasField("metadata") else ""
        if plugin:
            c.plugins[name] = plugin
        plugin = c.plugins.get(name, "")
        if plugin in SCALAR_PLUGINS:
            array = _tensor(value)
            if array is not None and array.size == 1:
                c.add_scalar(name, step, float(array.reshape(-1)[0]))
        elif plugin in HISTOGRAM_PLUGINS:
            array = _tensor(value)
            if array is None or array.ndim != 2 or array.shape[1] != 3:
                c.bad_histograms += 1
            elif len(array):
                edges = np.concatenate([array[:1, 0], array[:, 1]])
                c.add_histogram(name, step, float(array[0, 0]), float(array[-1, 1]), edges, array[:, 2].copy())
        elif plugin:
            c.other.add(plugin)
    elif kind is not None:
        c.other.add(kind)


def _read_file(c: _Collector, path: str, prefix: str, damage: FileDamage) -> None:
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto.event_pb2 import Event

    parse = Event.FromString
    for record in read_records(path, damage):
        try:
            event = parse(record)
        except DecodeError:
            c.undecodable += 1
            continue
        if not event.HasField("summary"):
            continue
        step = int(event.step)
        c.walls.append((step, event.wall_time))
        for value in event.summary.value:
            _read_value(c, prefix + value.tag, step, value)


def _kept(steps: np.ndarray) -> np.ndarray:
    """Which entries survive later entries at the same or an earlier step (a restart replaces them)."""
    later_min = np.minimum.accumulate(np.r_[steps[1:], np.iinfo(np.int64).max][::-1])[::-1]
    return steps < later_min


def _compact(edges: np.ndarray, counts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each run of empty buckets as one, in histograms of more than COMPACT_ABOVE buckets (the
    counts below every edge left are the same; fewer, uniform buckets stay as logged)."""
    big = sizes > COMPACT_ABOVE
    if not big.any():
        return edges, counts, sizes
    owner = np.repeat(np.arange(len(sizes)), sizes)
    empty = counts == 0  # NaN counts stay, to be found unusable
    drop = np.repeat(big, sizes)
    drop &= empty
    drop[:-1] &= empty[1:]  # the next bucket is empty too ...
    drop[np.cumsum(sizes)[sizes > 0] - 1] = False  # ... and in the same step
    keep_edge = np.ones(len(edges), bool)
    keep_edge[np.flatnonzero(drop) + owner[drop] + 1] = False  # the upper edge of each bucket dropped
    kept = ~drop
    return edges[keep_edge], counts[kept], np.bincount(owner[kept], minlength=len(sizes))


def _histograms(entries: tuple[list, ...]) -> tuple[Histograms | None, int, int]:
    """One tag's histograms (None if none is usable), how many were unusable, how many replaced."""
    steps, lo, hi = (np.array(column, dtype) for column, dtype in zip(entries[:3], (np.int64, float, float)))
    _gather(entries)
    edges, counts, sizes = (np.concatenate(part) for part in zip(*entries[5]))
    owner = np.repeat(np.arange(len(steps)), sizes)
    offsets = np.r_[0, np.cumsum(sizes + 1)]
    count_at = np.arange(len(counts)) + owner + 1  # where each count's upper edge sits
    lo_e, hi_e = np.repeat(lo, sizes + 1), np.repeat(hi, sizes + 1)
    edges = np.minimum(np.maximum(edges, lo_e), hi_e)  # TensorFlow's outer limits are +-DBL_MAX
    bad = ~(np.isfinite(lo) & np.isfinite(hi) & (lo <= hi)) | (sizes == 0)
    wrong = ~np.isfinite(counts) | (counts < 0)
    falls = np.zeros(len(edges), bool)
    falls[1:] = edges[1:] < edges[:-1]
    falls[offsets[:-1]] = False
    n = len(steps)
    bad |= np.bincount(owner, wrong, minlength=n) > 0
    bad |= np.bincount(np.repeat(np.arange(n), sizes + 1), falls | ~np.isfinite(edges), minlength=n) > 0
    keep = ~bad
    keep[keep] = _kept(steps[keep])
    replaced = int((~bad).sum() - keep.sum())
    if not keep.any():
        return None, int(bad.sum()), replaced
    running = np.cumsum(np.where(wrong, 0.0, counts))  # counts below each upper edge, all steps together
    starts = np.cumsum(sizes) - sizes
    before = np.where(starts > 0, running[np.maximum(starts - 1, 0)], 0.0)
    cum = np.zeros(len(edges))
    cum[count_at] = running - np.repeat(before, sizes)
    rows = np.repeat(keep, sizes + 1)
    kept_sizes = sizes[keep] + 1
    return (Histograms(steps[keep], lo[keep], hi[keep], np.r_[0, np.cumsum(kept_sizes)], edges[rows], cum[rows]),
            int(bad.sum()), replaced)


def event_files(root: str) -> list[tuple[str, str]]:
    """(path, tag prefix) of every event file under `root` (a folder, or one event file), in reading order."""
    if os.path.isfile(root):
        return [(root, "")]
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(folder, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        found += [(os.path.join(folder, f), prefix) for f in sorted(files) if "tfevents" in f]
    return found


def read_events(files: list[tuple[str, str]]) -> Events:
    """Parse the event files; damage and anything skipped become warning sentences."""
    c = _Collector()
    out = Events()
    for path, prefix in files:
        damage = FileDamage()
        try:
            _read_file(c, path, prefix, damage)
            out.size_bytes += os.path.getsize(path)
        except OSError as exc:
            out.warnings.append(f"{path}: could not be read ({exc.strerror or exc}).")
            continue
        out.warnings += damage.sentences(path)
    if c.undecodable:
        out.warnings.append(f"{c.undecodable} record(s) passed their checksum but are not TensorBoard events; "
                            f"they were skipped.")
    replaced = 0
    for name, (steps, values) in c.scalars.items():  # in the order first logged
        steps_a = np.array(steps, np.int64)
        keep = _kept(steps_a)
        replaced += int(len(keep) - keep.sum())
        out.scalars[name] = np.column_stack([steps_a[keep].astype(np.float64), np.array(values)[keep]])
    for name, entries in c.hists.items():
        hists, unusable, superseded = _histograms(entries)
        c.bad_histograms += unusable
        replaced += superseded
        if hists is not None:
            out.histograms[name] = hists
    if c.bad_histograms:
        out.warnings.append(f"{c.bad_histograms} histogram(s) without finite bounds or counts were skipped.")
    if replaced:
        out.warnings.append(f"{replaced} value(s) were replaced by values logged again at the same or an "
                            f"earlier step (a resumed run).")
    if c.walls:
        walls = np.array(c.walls, np.float64)
        out.wall_times = walls[np.argsort(walls[:, 0], kind="stable")]
    if c.other:
        log.info("not imported from the log: %s", ", ".join(sorted(c.other)))
    return out
