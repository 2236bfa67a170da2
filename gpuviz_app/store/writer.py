"""Writes a run to its store while it trains, off the publishing thread, never making it wait.

`offer` puts the snapshot in a bounded queue without blocking; when the queue is full the
snapshot is dropped and counted (the count is stored, and the reader says it). The writer's
thread copies payload tensors to the host (after waiting on the snapshot's CUDA event), writes
each payload whose version changed (a delta against the view's previous record, else a
keyframe: every `KEYFRAME_EVERY` versions, and as soon as the deltas since the last keyframe
would outweigh it, so that a read decodes at most about twice a keyframe's bytes), the metric rows logged since the last snapshot and the
snapshot's scalars, and commits at least every `COMMIT_S` (SQLite in WAL mode): a process killed
outright loses at most what was offered in the last second.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.store import codec

log = logging.getLogger(__name__)

QUEUE_SIZE = 64  # snapshots waiting for the writer's thread; more are dropped and counted
COMMIT_S = 0.25  # the longest a written record waits for its commit
KEYFRAME_EVERY = 16  # versions of a payload between two keyframes (bounds the deltas a read applies)
MAX_PENDING_ROWS = 1 << 16  # row chunks held for the thread; more are dropped and counted
SCALAR_FIELDS = ("run_id", "step", "wall_time", "device", "device_name", "dataset", "steps_per_s", "paused",
                 "finished", "model", "error", "diverged_step", "diverged")


def connect(path: str) -> sqlite3.Connection:
    """A new store at `path` (SQLite, WAL, schema and version set)."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # a commit survives the process being killed; fsync at checkpoints
    db.execute(f"PRAGMA application_id={codec.APPLICATION_ID}")
    db.execute(f"PRAGMA user_version={codec.SCHEMA_VERSION}")
    db.execute(codec.SCHEMA)
    return db


class RunWriter:
    """One run's store, fed by `offer` from the thread that publishes snapshots."""

    def __init__(self, path: str | Callable[[], str], queue_size: int = QUEUE_SIZE,
                 keyframe_every: int = KEYFRAME_EVERY) -> None:
        """`path`: the store's file, or a function that makes it (called on the writer's thread, so
        that making a run directory costs the publishing thread nothing)."""
        self.path = path if isinstance(path, str) else ""
        self._make_path = None if isinstance(path, str) else path
        self.ready = threading.Event()  # set once the store exists (or could not be made: `error`)
        self.keyframe_every = max(1, keyframe_every)
        self.dropped = 0  # snapshots not written because the queue was full
        self.dropped_rows = 0  # metric row chunks not written because too many waited
        self.written = 0
        self.error = ""
        self._queue: queue.Queue = queue.Queue(queue_size)
        self._db: sqlite3.Connection | None = None
        self._rows_lock = threading.Lock()
        self._rows: list[tuple[str, np.ndarray, np.ndarray]] = []
        self._row_steps: dict[str, int] = {}  # the last step of each series' rows taken
        self._history: MetricsHistory | None = None
        self._tap = self._add_rows
        self._last: dict[str, _Last] = {}
        self._last_step: int | None = None
        self._last_config: Any = ()  # (nothing written yet: no config is a tuple)
        self._stored_drops = 0
        self._closed = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpuviz-store", daemon=True)
        self._thread.start()

    def offer(self, snapshot: Snapshot) -> bool:
        """Queue `snapshot` for writing; False (and counted) when the queue is full. Never blocks."""
        if self._closed:
            return False
        if snapshot.metrics is not self._history:
            self._watch(snapshot.metrics)
        try:
            self._queue.put_nowait(snapshot)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued, commit and close the store; `timeout` None: without waiting."""
        if not self._closed:
            self._closed = True
            self.unwatch()
            self._stopping.set()
            try:
                self._queue.put_nowait(None)  # (wakes the thread now)
            except queue.Full:
                pass
        if timeout is not None:
            self._thread.join(timeout)

    def unwatch(self) -> None:
        """Take no more metric rows until the next snapshot offered (whose history's rows held by
        then are written, so a pause loses none that the history keeps)."""
        if self._history is not None:
            self._history.untap(self._tap)
            self._history = None

    def _watch(self, history: MetricsHistory) -> None:
        """Record `history`'s rows from now on; those it holds already are written first."""
        if self._history is not None:
            self._history.untap(self._tap)
        self._history = history
        held = history.tap(self._tap)
        with self._rows_lock:
            for name, buckets in held.items():
                after = buckets[buckets["last_step"] > self._row_steps.get(name, -1)]  # (not those written)
                if len(after):
                    self._rows.append((name, after["last_step"].copy(), after["mean"].copy()))
                    self._row_steps[name] = int(after["last_step"][-1])

    def _add_rows(self, name: str, steps: Any, values: Any) -> None:
        steps = np.array(steps, np.int64).ravel()
        values = np.array(values, np.float64).ravel()
        with self._rows_lock:
            if len(self._rows) >= MAX_PENDING_ROWS:
                self.dropped_rows += 1
                return
            self._rows.append((name, steps, values))
            if len(steps):
                self._row_steps[name] = int(steps[-1])

    # -- the writer's thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            if self._make_path is not None:
                self.path = self._make_path()
            self._db = connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            self.error = f"the run store {self.path or ''} cannot be made ({exc})"
            log.warning("%s; this run is not kept", self.error)
            self._closed = True
            return
        finally:
            self.ready.set()
        last_commit = time.monotonic()
        pending = False
        while True:
            try:
                item = self._queue.get(timeout=COMMIT_S)
            except queue.Empty:
                item = None
            if item is not None:
                if not pending:
                    self._db.execute("BEGIN")
                    pending = True
                try:
                    self._write(item)
                except Exception as exc:  # noqa: BLE001 - a bad payload must not stop the recording
                    if not self.error:
                        self.error = f"{type(exc).__name__}: {exc}"
                        log.warning("run store %s: a snapshot could not be written (%s)", self.path, self.error)
            now = time.monotonic()
            stopping = self._stopping.is_set() and self._queue.empty()
            # (a commit per snapshot would cost the thread more than the writes: a batch waits at most COMMIT_S)
            if pending and (item is None or stopping or now - last_commit >= COMMIT_S):
                self._write_drops()
                self._db.execute("COMMIT")
                pending, last_commit = False, now
            if stopping:
                break
        self._db.execute("BEGIN")
        self._write_drops()
        self._db.execute("COMMIT")
        self._db.close()

    def _write(self, snapshot: Snapshot) -> None:
        step = int(snapshot.step)
        if self._last_step is not None and step < self._last_step:
            self.dropped += 1  # a step going back is another run's; it does not belong here
            return
        self._last_step = step
        if snapshot.event is not None and hasattr(snapshot.event, "synchronize"):
            snapshot.event.synchronize()  # the reductions were launched on the training stream
        wall = float(snapshot.wall_time)
        with self._rows_lock:
            rows, self._rows = self._rows, []
        if rows:
            self._insert(codec.ROWS, "", step, wall, 0, 0, *codec.encode_rows(_merged(rows)))
        for view, payload in snapshot.parts.items():
            version = snapshot.version(view)
            last = self._last.get(view)
            if last is not None and last.version == version:
                continue
            # (the next delta is taken to be as large as the last one, so no payload is encoded twice)
            delta = (last is not None and last.chain + 1 < self.keyframe_every
                     and last.chain_bytes + last.delta_bytes <= last.key_bytes)
            header, data, arrays = codec.encode_payload(payload, last.arrays if delta else None)
            rid = self._insert(codec.PAYLOAD, view, step, wall, version, last.id if delta else 0, header, data)
            size = len(header) + len(data)
            self._last[view] = (_Last(version, rid, last.chain + 1, arrays, last.key_bytes, last.chain_bytes + size,
                                      size) if delta else _Last(version, rid, 0, arrays, size))
        scalars = {k: getattr(snapshot, k) for k in SCALAR_FIELDS}
        scalars["latest"] = {str(k): float(v) for k, v in snapshot.latest.items()}
        scalars["versions"] = {str(k): int(v) for k, v in snapshot.versions.items()}
        config = snapshot.config.to_dict() if hasattr(snapshot.config, "to_dict") else None
        if config != self._last_config:  # (written when it changes; a frame without one keeps the last)
            scalars["config"] = self._last_config = config
        self._insert(codec.FRAME, "", step, wall, 0, 0, _json(scalars), b"")
        self.written += 1

    def _write_drops(self) -> None:
        drops = self.dropped + self.dropped_rows
        if drops != self._stored_drops:
            header = _json({"snapshots": self.dropped, "rows": self.dropped_rows})
            self._insert(codec.DROPS, "", self._last_step or 0, time.time(), 0, 0, header, b"")
            self._stored_drops = drops

    def _insert(self, kind: int, view: str, step: int, wall: float, version: int, base: int,
                header: bytes, data: bytes) -> int:
        crc = codec.checksum(kind, view, step, wall, version, base, header, data)
        cursor = self._db.execute(
            "INSERT INTO records (kind, view, step, wall, version, base, header, data, crc) VALUES (?,?,?,?,?,?,?,?,?)",
            (kind, view, step, wall, version, base, header, data, crc))
        return int(cursor.lastrowid)


@dataclass(frozen=True)
class _Last:
    """A view's last payload record: what the next one is a delta against, and how long its chain is."""

    version: int
    id: int
    chain: int  # deltas since the keyframe
    arrays: codec.Previous
    key_bytes: int  # the keyframe's size
    chain_bytes: int = 0  # the deltas' sizes since it
    delta_bytes: int = 0  # the last delta's


def _merged(rows: list[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    by_name: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for name, steps, values in rows:
        by_name.setdefault(name, []).append((steps, values))
    return {name: (np.concatenate([s for s, _ in parts]), np.concatenate([v for _, v in parts]))
            for name, parts in by_name.items()}


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=_plain, allow_nan=True).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)


def store_size(path: str) -> int:
    """Bytes of a store on disk, its write-ahead log included."""
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))

