"""Logged histograms as the weights view's distribution over time (`WeightsPayload` columns).

Each histogram tag is one series. Columns are laid out as the live probe's are
(`core.merge_store`): a column per logged step while they fit the view's 512 columns, then
neighbouring columns merge and the stride doubles. Steps are counted in the log's own
interval (the greatest common divisor of its steps' spacing), so a histogram logged every
100 steps fills one column per log, not one in a hundred.

A column has 256 uniform bins over its values' range. Each logged histogram's buckets are
moved onto them through its cumulative counts (linear within a bucket, rounded to whole
counts), so every step's total is kept exactly, and so are its bucket counts when one
column holds one step whose buckets are uniform and at most 256 (the column takes their
grid). Columns are computed once per stride for the whole log and kept; the last column
shown at an earlier step, still partly filled then, is computed when asked for.

Gradients, when the log has a tag `X.grad` (or `X/grad`, `grad/X`, `gradients/X`, ...) beside
`X`, are the layer's gradient series; without one that series is empty, and the layer
health the log cannot tell (norms, update ratio, dead steps) is NaN: the view says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from gpuviz_app.core.merge_store import runs
from gpuviz_app.core.probes.weights.payload import WeightsPayload
from gpuviz_app.store.tensorboard_events import Histograms

CAPACITY = 512
BINS = 256
_EDGE = 1e-6  # in bins: keeps a value at a column's extremes inside it
_GRAD = re.compile(r"^(?:(?P<pre>.*/)?(?:grad|grads|gradient|gradients)/(?P<base>.+)"
                   r"|(?P<base2>.+?)[./_](?:grad|grads|gradient|gradients))$")


def pair_gradients(tags: list[str]) -> list[tuple[str, str | None]]:
    """(tag, its gradient's tag or None) per layer, in the log's order; a gradient tag whose
    values' tag is not in the log is a layer of its own."""
    names = set(tags)
    grads: dict[str, str] = {}
    for tag in tags:
        m = _GRAD.match(tag)
        if m:
            base = (m["pre"] or "") + m["base"] if m["base"] else m["base2"]
            if base in names and base != tag and base not in grads:
                grads[base] = tag
    paired = set(grads.values())
    return [(tag, grads.get(tag)) for tag in tags if tag not in paired]


@dataclass
class _Columns:
    counts: np.ndarray  # (n, BINS) float32
    grid: np.ndarray  # (n, 4) float32: first edge, width, 1 / largest count, total
    extent: np.ndarray  # (n, 2) float32


def _empty(n: int) -> _Columns:
    grid = np.zeros((n, 4), np.float32)
    grid[:, 1] = 1.0
    return _Columns(np.zeros((n, BINS), np.float32), grid, np.full((n, 2), np.nan, np.float32))


def _matched_grid(h: Histograms, i: int) -> tuple[float, float] | None:
    """(first edge, width) of step i's buckets if they are uniform and at most BINS, else None."""
    edges, counts = h.counts(i)
    widths = np.diff(edges)
    wide = np.flatnonzero(widths > 0)
    if not len(wide) or np.any(counts[widths <= 0] > 0):
        return None
    a, b = wide[0], wide[-1]
    inner = widths[a : b + 1]
    w = inner[0]
    if b - a + 1 > BINS or np.any(np.abs(inner - w) > 1e-6 * w):
        return None
    return float(edges[a]), float(w)


def columns_of(h: Histograms, idx: np.ndarray, col: np.ndarray, n: int) -> _Columns:
    """Columns 0..n-1 holding steps `idx` of `h`, step idx[k] in column col[k] (ascending)."""
    out = _empty(n)
    if not len(idx):
        return out
    starts, cols = runs(col)
    lo = np.minimum.reduceat(h.lo[idx], starts)
    hi = np.maximum.reduceat(h.hi[idx], starts)
    first = lo.copy()
    width = (hi - lo) / BINS
    flat = ~(width > np.abs(lo) * 1e-12)  # one value (or too close to tell apart): centre it in a bin
    width[flat] = np.maximum(np.abs(lo[flat]), 1.0) * 1e-3 / BINS
    first[flat] = lo[flat] - (BINS / 2 + 0.5) * width[flat]
    single = np.flatnonzero(np.diff(np.r_[starts, len(idx)]) == 1)
    for c in single:
        matched = _matched_grid(h, int(idx[starts[c]]))
        if matched is not None:
            first[c], width[c] = matched
    # every step's cumulative counts at its column's bin edges, all steps in one interpolation
    a, b = h.offsets[idx], h.offsets[idx + 1]
    sizes = b - a
    owner = np.repeat(np.arange(len(idx)), sizes)
    flat_at = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(a, sizes)
    step_col = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(idx)]))
    oc = step_col[owner]
    u = np.clip((h.edges[flat_at] - first[oc]) / width[oc], _EDGE, BINS - _EDGE)
    span = 2.0 * BINS
    below = np.r_[0.0, np.cumsum(h.totals[idx])[:-1]]
    cum = h.cum[flat_at] + below[owner]
    at = (np.arange(len(idx))[:, None] * span + np.arange(BINS + 1)[None, :]).ravel()
    level = np.rint(np.interp(at, owner * span + u, cum)).reshape(len(idx), BINS + 1)
    per_step = np.diff(level, axis=1)
    counts = np.add.reduceat(per_step, starts, axis=0)
    peak = counts.max(axis=1)
    out.counts[cols] = counts
    out.grid[cols] = np.stack([first, width, np.where(peak > 0, 1.0 / np.maximum(peak, 1), 0.0),
                               counts.sum(axis=1)], axis=1)
    out.extent[cols] = np.stack([lo, hi], axis=1)
    return out


class LoggedHistograms:
    """The weights payload of a log's histograms at any step."""

    def __init__(self, histograms: dict[str, Histograms], capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self.layers_tags = pair_gradients(list(histograms))
        tags = [t for t, _ in self.layers_tags] + [g for _, g in self.layers_tags]
        self.series = [histograms[t] if t is not None else None for t in tags]
        present = [h.steps for h in self.series if h is not None]
        self.steps = np.unique(np.concatenate(present)) if present else np.zeros(0, np.int64)
        self.first = int(self.steps[0]) if len(self.steps) else 0
        gaps = np.diff(self.steps)
        self.interval = int(np.gcd.reduce(gaps)) if len(gaps) else 1
        self.positions = (self.steps - self.first) // self.interval
        self.layers = []
        for i, (tag, grad) in enumerate(self.layers_tags):
            h = histograms[tag]
            self.layers.append({"name": tag, "kind": "histogram", "shape": (int(h.totals.max(initial=0)),),
                                "label": f"{i + 1} {tag}", "gradient": grad or ""})
        self._levels: dict[int, list[_Columns]] = {}
        self._last: tuple[int, WeightsPayload] | None = None

    def _position(self, h: Histograms) -> np.ndarray:
        return (h.steps - self.first) // self.interval

    def _level(self, j: int) -> list[_Columns]:
        """Every series' complete columns at stride 2**j (those that fit the capacity)."""
        if j not in self._levels:
            out = []
            for h in self.series:
                if h is None:
                    out.append(_empty(self.capacity))
                    continue
                col = self._position(h) >> j
                idx = np.flatnonzero(col < self.capacity)
                out.append(columns_of(h, idx, col[idx], self.capacity))
            self._levels[j] = out
        return self._levels[j]

    def logged_until(self, step: int) -> int:
        """How many histogram steps were logged at or before `step`."""
        return int(np.searchsorted(self.steps, step, side="right"))

    def payload_at(self, step: int) -> WeightsPayload | None:
        k = self.logged_until(step)
        if not k:
            return None
        if self._last is not None and self._last[0] == k:
            return self._last[1]
        p = int(self.positions[k - 1])
        j = 0
        while (p >> j) >= self.capacity:
            j += 1
        n = (p >> j) + 1
        level = self._level(j)
        complete = k == len(self.steps) or (int(self.positions[k]) >> j) != n - 1
        parts = []
        for h, cols in zip(self.series, level):
            if complete or h is None:
                parts.append(_Columns(cols.counts[:n], cols.grid[:n], cols.extent[:n]))
                continue
            pos = self._position(h)
            idx = np.flatnonzero(((pos >> j) == n - 1) & (h.steps <= step))
            last = columns_of(h, idx, np.zeros(len(idx), np.int64), 1)
            parts.append(_Columns(np.concatenate([cols.counts[: n - 1], last.counts]),
                                  np.concatenate([cols.grid[: n - 1], last.grid]),
                                  np.concatenate([cols.extent[: n - 1], last.extent])))
        stride = (1 << j) * self.interval
        start = self.first + np.arange(n, dtype=np.int64) * stride
        end = np.minimum(start + stride - 1, int(self.steps[k - 1]))
        nl = len(self.layers)
        payload = WeightsPayload(
            step=int(self.steps[k - 1]),
            layers=[dict(layer) for layer in self.layers],
            column_steps=np.stack([start, end], axis=1),
            tracked=np.bincount(self.positions[:k] >> j, minlength=n).astype(np.int64),
            stride=stride,
            counts=np.stack([c.counts for c in parts]),
            grid=np.stack([c.grid for c in parts]),
            extent=np.stack([c.extent for c in parts]),
            health=np.full((nl, n, 3), np.nan, np.float32),  # not in the log
            dead_steps=np.full((nl, n), np.nan, np.float32),
            latest=np.full((4, nl), np.nan, np.float32),
            matrices={},
            filters={},
        )
        self._last = (k, payload)
        return payload
