"""Metric history in fixed memory, with min/max decimation for drawing.

Every logged value stays represented: when a series fills its buckets, neighbouring
buckets merge exactly (`core.merge_store`) (min of mins, max of maxes, sums added), so a spike at step
700,000 still shows after a million steps. Drawing asks for one (min, max) pair per
pixel column, which costs O(buckets) whatever the number of steps logged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from gpuviz_app.core.merge_store import MergeStore, runs

DEFAULT_CAPACITY = 1 << 18


@dataclass(frozen=True)
class Decimated:
    """One entry per non-empty pixel column: the span's centre step and its extremes."""

    x: np.ndarray
    ymin: np.ndarray
    ymax: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


class SeriesHistory:
    """An append-only (step, value) series stored as at most `capacity` buckets.

    Bucket i holds values number i * stride .. (i + 1) * stride - 1 of the series (a
    `MergeStore` over the values' ordinals), with the steps of its first and last value.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._store = MergeStore(capacity, self._merge_pairs)
        self.capacity = capacity
        self.first = np.zeros(capacity, np.int64)
        self.last = np.zeros(capacity, np.int64)
        self.vmin = np.full(capacity, np.nan)
        self.vmax = np.full(capacity, np.nan)
        self.vsum = np.zeros(capacity, np.float64)
        self.finite = np.zeros(capacity, np.int64)
        self.total = 0
        self.latest = float("nan")

    def __len__(self) -> int:
        return self._store.n

    @property
    def n(self) -> int:
        return self._store.n

    @property
    def stride(self) -> int:
        return self._store.stride

    @property
    def count(self) -> np.ndarray:
        """Values each bucket holds."""
        return self._store.held

    def extend(self, steps: np.ndarray, values: np.ndarray) -> None:
        steps = np.asarray(steps, np.int64).ravel()
        values = np.asarray(values, np.float64).ravel()
        if steps.shape != values.shape:
            raise ValueError("steps and values differ in length")
        m = len(values)
        if m == 0:
            return
        finite = np.isfinite(values)
        values = np.where(finite, values, np.nan)
        entries = self._store.place(self.total, m)
        starts, e = runs(entries)
        ends = np.r_[starts[1:], m] - 1
        fresh = self._store.held[e] == ends - starts + 1  # buckets holding only these values
        self.first[e] = np.where(fresh, steps[starts], self.first[e])
        self.last[e] = steps[ends]
        self.vmin[e] = np.fmin(self.vmin[e], np.fmin.reduceat(values, starts))
        self.vmax[e] = np.fmax(self.vmax[e], np.fmax.reduceat(values, starts))
        self.vsum[e] += np.add.reduceat(np.where(finite, values, 0.0), starts)
        self.finite[e] += np.add.reduceat(finite.astype(np.int64), starts)
        self.total += m
        self.latest = float(values[-1])

    def _merge_pairs(self, a: slice, b: slice, h: int) -> None:
        self.first[:h] = self.first[a]
        self.last[:h] = self.last[b]
        self.vmin[:h] = np.fmin(self.vmin[a], self.vmin[b])
        self.vmax[:h] = np.fmax(self.vmax[a], self.vmax[b])
        self.vsum[:h] = self.vsum[a] + self.vsum[b]
        self.finite[:h] = self.finite[a] + self.finite[b]
        self.first[h:] = self.last[h:] = 0
        self.vmin[h:] = self.vmax[h:] = np.nan
        self.vsum[h:] = 0.0
        self.finite[h:] = 0

    def step_range(self) -> tuple[int, int] | None:
        if not self.n:
            return None
        return int(self.first[0]), int(self.last[self.n - 1])

    def value_range(self, lo: float, hi: float) -> tuple[float, float] | None:
        """Finite (min, max) of the buckets overlapping steps [lo, hi]."""
        a, b = self._window(lo, hi)
        if a >= b:
            return None
        mn, mx = np.fmin.reduce(self.vmin[a:b]), np.fmax.reduce(self.vmax[a:b])
        if not (np.isfinite(mn) and np.isfinite(mx)):
            return None
        return float(mn), float(mx)

    def _window(self, lo: float, hi: float) -> tuple[int, int]:
        n = self.n
        a = int(np.searchsorted(self.last[:n], lo, side="left"))
        b = int(np.searchsorted(self.first[:n], hi, side="right"))
        return a, b

    def decimate(self, lo: float, hi: float, columns: int) -> Decimated:
        """(min, max) per pixel column over steps [lo, hi]."""
        a, b = self._window(lo, hi)
        if a >= b or columns < 1:
            empty = np.zeros(0)
            return Decimated(empty, empty, empty)
        first, last = self.first[a:b], self.last[a:b]
        width = max(hi - lo, 1e-9)
        mid = 0.5 * (first + last)
        col = np.clip(((mid - lo) / width * columns).astype(np.int64), 0, columns - 1)
        starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
        ends = np.r_[starts[1:], len(col)] - 1
        x = 0.5 * (first[starts] + last[ends])
        ymin = np.fmin.reduceat(self.vmin[a:b], starts)
        ymax = np.fmax.reduceat(self.vmax[a:b], starts)
        return Decimated(x, ymin, ymax)

    def rows(self) -> np.ndarray:
        """Buckets as a structured array (first_step, last_step, min, max, mean, count)."""
        n = self.n
        out = np.zeros(
            n,
            dtype=[("first_step", "i8"), ("last_step", "i8"), ("min", "f8"),
                   ("max", "f8"), ("mean", "f8"), ("count", "i8")],
        )
        out["first_step"], out["last_step"] = self.first[:n], self.last[:n]
        out["min"], out["max"] = self.vmin[:n], self.vmax[:n]
        with np.errstate(invalid="ignore", divide="ignore"):
            out["mean"] = self.vsum[:n] / self.finite[:n]
        out["count"] = self.count[:n]
        return out


SERIES = ("train_loss", "eval_loss", "train_acc", "eval_acc")


class MetricsHistory:
    """The named series of one run, shared by the trainer (writer) and the display (reader)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, names: tuple[str, ...] = SERIES) -> None:
        self._lock = threading.Lock()
        self._series = {name: SeriesHistory(capacity) for name in names}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._series)

    def append(self, name: str, steps: np.ndarray, values: np.ndarray) -> None:
        with self._lock:
            self._series[name].extend(steps, values)

    def latest(self, name: str) -> float:
        with self._lock:
            return self._series[name].latest

    def total(self, name: str) -> int:
        with self._lock:
            return self._series[name].total

    def step_range(self) -> tuple[int, int] | None:
        with self._lock:
            ranges = [r for s in self._series.values() if (r := s.step_range())]
        if not ranges:
            return None
        return min(r[0] for r in ranges), max(r[1] for r in ranges)

    def value_range(self, names: tuple[str, ...], lo: float, hi: float) -> tuple[float, float] | None:
        with self._lock:
            ranges = [r for n in names if (r := self._series[n].value_range(lo, hi))]
        if not ranges:
            return None
        return min(r[0] for r in ranges), max(r[1] for r in ranges)

    def decimate(self, name: str, lo: float, hi: float, columns: int) -> Decimated:
        with self._lock:
            return self._series[name].decimate(lo, hi, columns)

    def rows(self, name: str) -> np.ndarray:
        with self._lock:
            return self._series[name].rows()
