"""A stored run read back at any step (`RunFrames`), damaged stores included.

Opening reads every record once in write order, checking its checksum, and keeps an index in
memory (each view's records by step, the snapshots' scalars, the metric rows); the first record
that is unreadable or fails its checksum ends the run there, with a warning. Reading a step then
fetches one record per view by id and rebuilds it from its keyframe and deltas, starting from the
nearest record decoded before when it can (stepping forward applies one delta, stepping back
finds the records it passed kept).
"""

from __future__ import annotations

import bisect
import logging
import os
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.payload_tree import BadPayload
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.store import codec
from gpuviz_app.store.frames import RunSummary, history_until
from gpuviz_app.store.layout import META_FILE, STORE_FILE, read_meta
from gpuviz_app.store.writer import store_size

log = logging.getLogger(__name__)

CACHE_BYTES = 256 << 20  # decoded payload arrays kept for stepping back and forth


class StoreError(ValueError):
    """A path that cannot be opened as a run store; the text says why in one sentence."""


@dataclass
class _View:
    steps: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    cached: tuple[int, list[np.ndarray], Any] | None = None  # the last read: record id, arrays, payload


def open_run(path: str) -> "StoredRun":
    """The run stored at `path` (a run directory or its store file), or `StoreError` saying why not."""
    return StoredRun(path)


class StoredRun:
    """A run store opened for reading (`RunFrames`); `warnings` says what could not be read."""

    def __init__(self, path: str) -> None:
        path = os.fspath(path)
        self.directory = path if os.path.isdir(path) else os.path.dirname(path)
        self.path = os.path.join(path, STORE_FILE) if os.path.isdir(path) else path
        if not os.path.isfile(self.path):
            raise StoreError(f"{path} is not a gpuviz run (it holds no {STORE_FILE})" if os.path.isdir(path)
                             else f"{path} does not exist")
        self.meta = read_meta(self.directory) if os.path.isfile(os.path.join(self.directory, META_FILE)) else {}
        self.warnings: list[str] = []
        self.dropped = {"snapshots": 0, "rows": 0}
        self._db = self._connect()
        self._views: dict[str, _View] = {}
        self._base: dict[int, int] = {}  # payload record id -> the id its delta applies to (0: keyframe)
        self._view_of: dict[int, str] = {}
        self._frame_steps: list[int] = []
        self._frames: list[dict] = []
        self._configs: list[Any] = []  # the run's config at each frame (`TrainConfig` or None)
        self._config: Any = None
        self._chunks: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._rows: dict[str, np.ndarray] = {}
        self._first_wall = 0.0
        self._decoded: OrderedDict[int, list[np.ndarray]] = OrderedDict()  # record id -> its arrays
        self._decoded_bytes: dict[int, int] = {}
        self._cached_bytes = 0
        self._unreadable: set[int] = set()
        self._last_id = 0
        self._ended = False
        self.refresh()
        if self.dropped["snapshots"] or self.dropped["rows"]:
            self._warn(f"{self.path}: {self.dropped['snapshots']} snapshots and {self.dropped['rows']} batches of "
                       "metric rows were not stored while the run trained (the disk did not keep up)")

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            db.execute("PRAGMA writable_schema=ON")  # (read-only: lets a file shorter than its header says open)
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError:
            raise StoreError(f"{self.path} is not a gpuviz run store (it is not an SQLite database)") from None
        if app_id != codec.APPLICATION_ID:
            db.close()
            raise StoreError(f"{self.path} is not a gpuviz run store")
        if version != codec.SCHEMA_VERSION:
            db.close()
            raise StoreError(f"{self.path} is a gpuviz run store of format {version}, "
                             f"which this gpuviz cannot read (it reads format {codec.SCHEMA_VERSION})")
        return db

    # -- the index ------------------------------------------------------------------------------
    def refresh(self) -> int:
        """Read the records written since the last look (a store still being written grows); how many."""
        if self._ended:
            return 0
        seen = 0
        query = "SELECT id, kind, view, step, wall, version, base, header, data, crc FROM records WHERE id > ? ORDER BY id"
        try:
            for row in self._db.execute(query, (self._last_id,)):
                record = codec.Record(*row[:9])
                if not codec.record_ok(record, row[9]):
                    self._damaged(f"record {record.id} fails its checksum")
                    break
                try:
                    self._index(record)
                except BadPayload as exc:
                    self._damaged(f"record {record.id} is malformed ({exc})")
                    break
                self._last_id = record.id
                seen += 1
        except sqlite3.DatabaseError as exc:
            self._damaged(f"the file is damaged after record {self._last_id} ({exc})")
        if seen:
            self._rows = {name: _in_order(np.concatenate([s for s, _ in parts]), np.concatenate([v for _, v in parts]))
                          for name, parts in self._chunks.items()}
        return seen

    def _damaged(self, reason: str) -> None:
        self._ended = True
        last = self._frame_steps[-1] if self._frame_steps else None
        where = f"up to step {last}" if last is not None else "with nothing in it"
        self._warn(f"{self.path}: {reason}; the run opens {where}")

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        log.warning("run store: %s", text)

    def _index(self, record: codec.Record) -> None:
        if not self._first_wall:
            self._first_wall = record.wall
        if record.kind == codec.FRAME:
            scalars = codec.parse_header(record.header)
            if "config" in scalars:
                self._config = _config(scalars["config"])
            self._frame_steps.append(record.step)
            self._frames.append(scalars)
            self._configs.append(self._config)
        elif record.kind == codec.PAYLOAD:
            view = self._views.setdefault(record.view, _View())
            if record.base and self._view_of.get(record.base) != record.view:
                raise BadPayload(f"its base record {record.base} is not one of view {record.view}'s")
            view.steps.append(record.step)
            view.ids.append(record.id)
            view.versions.append(record.version)
            self._base[record.id] = record.base
            self._view_of[record.id] = record.view
        elif record.kind == codec.ROWS:
            for name, rows in codec.decode_rows(codec.parse_header(record.header), record.data).items():
                self._chunks.setdefault(name, []).append(rows)
        elif record.kind == codec.DROPS:
            drops = codec.parse_header(record.header)
            self.dropped = {k: int(drops.get(k, 0)) for k in ("snapshots", "rows")}

    # -- RunFrames ------------------------------------------------------------------------------
    @property
    def summary(self) -> RunSummary:
        last = self._frames[-1] if self._frames else {}
        loss = self._rows.get("train_loss")
        return RunSummary(
            name=str(self.meta.get("name") or self._default_name()),
            dataset=str(last.get("dataset") or self.meta.get("dataset", "")),
            model=str(last.get("model") or self.meta.get("model", "")),
            started=float(self.meta.get("started") or self._first_wall),
            steps=self._frame_steps[-1] if self._frame_steps else 0,
            final_loss=float(loss[-1, 1]) if loss is not None and len(loss) else float("nan"),
            size_bytes=store_size(self.path), path=self.directory)

    def _default_name(self) -> str:
        if os.path.basename(self.path) == STORE_FILE:
            return os.path.basename(self.directory)
        return os.path.splitext(os.path.basename(self.path))[0]

    def steps(self) -> np.ndarray:
        return np.asarray(self._frame_steps, dtype=np.int64)

    def rows(self) -> dict[str, np.ndarray]:
        """Every metric row stored (name -> (n, 2) array of step, value)."""
        return dict(self._rows)

    def snapshot_at(self, step: int) -> Snapshot:
        i = bisect.bisect_right(self._frame_steps, step) - 1
        if i < 0:
            raise KeyError(f"nothing was recorded at or before step {step}")
        scalars = self._frames[i]
        parts, versions = {}, {}
        for name, view in self._views.items():
            j = bisect.bisect_right(view.steps, step) - 1
            if j < 0:
                continue
            payload = self._payload(name, view, view.ids[j])
            if payload is not None:
                parts[name], versions[name] = payload, view.versions[j]
        return Snapshot(
            run_id=_int(scalars.get("run_id")), step=int(step), wall_time=float(scalars.get("wall_time") or 0.0),
            metrics=history_until(self._rows, step),
            latest={str(k): float(v) for k, v in (scalars.get("latest") or {}).items()},
            parts=parts, versions=versions, device=str(scalars.get("device", "cpu")),
            device_name=str(scalars.get("device_name", "CPU")), dataset=str(scalars.get("dataset", "")),
            steps_per_s=float(scalars.get("steps_per_s") or 0.0), paused=bool(scalars.get("paused")),
            finished=bool(scalars.get("finished")), model=str(scalars.get("model", "")),
            error=str(scalars.get("error", "")), diverged_step=scalars.get("diverged_step"),
            diverged=str(scalars.get("diverged", "")), config=self._configs[i])

    def close(self) -> None:
        self._db.close()

    # -- payloads -------------------------------------------------------------------------------
    def _payload(self, name: str, view: _View, rid: int) -> Any:
        if view.cached is not None and view.cached[0] == rid:
            return view.cached[2]
        try:
            arrays, header = self._arrays(rid)
            if header is None:
                header = codec.parse_header(self._fetch(rid, "header")[0])
            payload = codec.decode_tree(header, arrays)
        except (BadPayload, sqlite3.DatabaseError, TypeError) as exc:
            if rid not in self._unreadable:
                self._unreadable.add(rid)
                self._warn(f"{self.path}: the {name} view's record {rid} cannot be read ({exc})")
            view.cached = None
            return None
        view.cached = (rid, arrays, payload)
        return payload

    def _arrays(self, rid: int) -> tuple[list[np.ndarray], dict | None]:
        """The arrays of record `rid`, rebuilt from the nearest record decoded before (kept while
        they fit `CACHE_BYTES`) or its keyframe; and its header when it was read here."""
        chain, at = [], rid
        while at and at not in self._decoded:
            chain.append(at)
            at = self._base[at]
        arrays = self._decoded[at] if at else None
        if at:
            self._decoded.move_to_end(at)
        cached = {id(a) for a in arrays} if arrays is not None else set()
        header = None
        owned: set[int] = set()  # arrays made on this walk: the links after change them in place
        for n, link in enumerate(reversed(chain)):
            header_bytes, data = self._fetch(link, "header, data")
            header = codec.parse_header(header_bytes)
            last = n == len(chain) - 1
            fresh = codec.decode_arrays(header, data, arrays, None if arrays is None else owned)
            if last or arrays is None:  # the record asked for, and a keyframe: kept, read-only
                for array in fresh:
                    array.flags.writeable = False
                self._keep(link, fresh, sum(a.nbytes for a in fresh if id(a) not in cached))
                cached |= {id(a) for a in fresh}
                owned.clear()
            arrays = fresh
        return arrays, header

    def _keep(self, rid: int, arrays: list[np.ndarray], nbytes: int) -> None:
        self._decoded[rid] = arrays
        self._decoded_bytes[rid] = nbytes
        self._cached_bytes += nbytes
        while self._cached_bytes > CACHE_BYTES and len(self._decoded) > 1:
            old, _ = self._decoded.popitem(last=False)
            self._cached_bytes -= self._decoded_bytes.pop(old)

    def _fetch(self, rid: int, columns: str) -> tuple:
        row = self._db.execute(f"SELECT {columns} FROM records WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise BadPayload(f"record {rid} is gone")
        return row


def _in_order(steps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(n, 2) rows of step, value; a row whose step goes back (only a damaged store has one) is left out."""
    keep = steps >= np.maximum.accumulate(steps) if len(steps) else np.zeros(0, bool)
    return np.column_stack([steps[keep].astype(np.float64), values[keep]])


def _config(value: Any) -> TrainConfig | None:
    """The built-in trainer's settings as stored (known, valid keys only), or None (another source)."""
    return TrainConfig.from_dict(value) if isinstance(value, dict) else None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

