"""Metric history in fixed memory, with min/max decimation for drawing.

Every logged value stays represented: when a series fills its buckets, neighbouring
buckets merge exactly (min of mins, max of maxes, sums added), so a spike at step
700,000 still shows after a million steps. Drawing asks for one (min, max) pair per
pixel column, which costs O(buckets) whatever the number of steps logged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

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
    """An append-only (step, value) series stored as at most `capacity` buckets."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self.capacity = capacity
        self.stride = 1
        self.n = 0
        self.first = np.zeros(capacity, np.int64)
        self.last = np.zeros(capacity, np.int64)
        self.vmin = np.zeros(capacity, np.float64)
        self.vmax = np.zeros(capacity, np.float64)
        self.vsum = np.zeros(capacity, np.float64)
        self.count = np.zeros(capacity, np.int64)
        self.finite = np.zeros(capacity, np.int64)
        self.total = 0
        self.latest = float("nan")

    def __len__(self) -> int:
        return self.n

    def extend(self, steps: np.ndarray, values: np.ndarray) -> None:
        steps = np.asarray(steps, np.int64).ravel()
        values = np.asarray(values, np.float64).ravel()
        if steps.shape != values.shape:
            raise ValueError("steps and values differ in length")
        if len(values) == 0:
            return
        values = np.where(np.isfinite(values), values, np.nan)
        i, m = 0, len(values)
        while i < m:
            if self.n and self.count[self.n - 1] < self.stride:
                k = min(self.stride - int(self.count[self.n - 1]), m - i)
                self._add_to_last(steps[i : i + k], values[i : i + k])
                i += k
            elif self.n == self.capacity:
                self._merge_pairs()
            else:
                k = min((m - i) // self.stride, self.capacity - self.n)
                if k:
                    span = k * self.stride
                    self._write_buckets(
                        steps[i : i + span].reshape(k, self.stride),
                        values[i : i + span].reshape(k, self.stride),
                    )
                    i += span
                else:
                    self._write_buckets(steps[i:m].reshape(1, -1), values[i:m].reshape(1, -1))
                    i = m
        self.total += m
        self.latest = float(values[-1])

    def _write_buckets(self, steps: np.ndarray, values: np.ndarray) -> None:
        k, n = len(steps), self.n
        sl = slice(n, n + k)
        self.first[sl] = steps[:, 0]
        self.last[sl] = steps[:, -1]
        self.vmin[sl] = np.fmin.reduce(values, axis=1)
        self.vmax[sl] = np.fmax.reduce(values, axis=1)
        self.vsum[sl] = np.nansum(values, axis=1)
        self.count[sl] = values.shape[1]
        self.finite[sl] = np.isfinite(values).sum(axis=1)
        self.n += k

    def _add_to_last(self, steps: np.ndarray, values: np.ndarray) -> None:
        j = self.n - 1
        self.last[j] = steps[-1]
        self.vmin[j] = np.fmin(self.vmin[j], np.fmin.reduce(values))
        self.vmax[j] = np.fmax(self.vmax[j], np.fmax.reduce(values))
        self.vsum[j] += np.nansum(values)
        self.count[j] += len(values)
        self.finite[j] += int(np.isfinite(values).sum())

    def _merge_pairs(self) -> None:
        h = self.capacity // 2
        self.first[:h] = self.first[0::2]
        self.last[:h] = self.last[1::2]
        self.vmin[:h] = np.fmin(self.vmin[0::2], self.vmin[1::2])
        self.vmax[:h] = np.fmax(self.vmax[0::2], self.vmax[1::2])
        self.vsum[:h] = self.vsum[0::2] + self.vsum[1::2]
        self.count[:h] = self.count[0::2] + self.count[1::2]
        self.finite[:h] = self.finite[0::2] + self.finite[1::2]
        self.n = h
        self.stride *= 2

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


SERIES = ("train_loss", "eval_loss", "eval_acc")


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
