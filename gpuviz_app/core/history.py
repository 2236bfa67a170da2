"""Metric history in fixed memory, with min/max decimation for drawing.

Every logged value stays represented: when a series fills its buckets, neighbouring
buckets merge exactly (`core.merge_store`) (min of mins, max of maxes, sums added), so a spike at step
700,000 still shows after a million steps. Drawing asks for one (min, max) pair per
pixel column, which costs O(buckets) whatever the number of steps logged.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from gpuviz_app.core.merge_store import MergeStore, runs

log = logging.getLogger(__name__)

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
        if np.any(steps[1:] < steps[:-1]) or (self.n and steps[0] < self.last[self.n - 1]):
            raise ValueError("steps must not go back: drawing finds a step range by bisection")
        finite = np.isfinite(values)
        values = np.where(finite, values, np.nan)
        if self._store.stride == 1 and self.total + m <= self.capacity:
            self._fill(steps, values, finite)  # (one value per bucket, none merged yet: no reductions needed)
            return
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

    def _fill(self, steps: np.ndarray, values: np.ndarray, finite: np.ndarray) -> None:
        a, b = self.total, self.total + len(values)
        self._store.place(a, len(values))
        self.first[a:b] = steps
        self.last[a:b] = steps
        self.vmin[a:b] = values
        self.vmax[a:b] = values
        self.vsum[a:b] = np.where(finite, values, 0.0)
        self.finite[a:b] = finite
        self.total = b
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
MAX_SERIES = 64  # series of one run; a script sending a new name every step must not grow memory without end
EXTRA_CAPACITY = 1 << 14  # buckets of a series other than the four above (the plot needs a few thousand)
MAX_NAME = 200  # characters of a series name
# A distributed job's per-rank series (`rank<r>/<quantity>`, a few per rank, one value per window
# of steps) have their own allowance, so that many ranks neither crowd out the script's own
# scalars nor cost a full series' memory each.
RANK_SERIES = re.compile(r"rank\d+/")
MAX_RANK_SERIES = 4 * 1024
RANK_CAPACITY = 1 << 11
_REPORTED_DROPS = 16  # dropped names each said in their own warning line; later ones in one more line
_REMEMBERED_DROPS = 1024


def name_problem(name: object) -> str:
    """Why `name` cannot name a series, or "" when it can."""
    if not isinstance(name, str) or not name:
        return "a series name must be a non-empty string"
    if len(name) > MAX_NAME:
        return f"a series name may have at most {MAX_NAME} characters"
    if not name.isprintable():
        return "a series name may not hold control characters"
    return ""


def _empty_rows() -> np.ndarray:
    return SeriesHistory(capacity=2).rows()


class MetricsHistory:
    """The named series of one run, shared by its writer (a trainer, a script, a receiver of
    another process's messages) and the display (reader).

    A series is created by its first `append` (or `reserve`), so any name a script sends is
    kept, up to `max_series` series; a name beyond that, or one that cannot name a series, is
    dropped with one warning line naming it. Asking for a name that holds nothing gives an
    empty answer, never an error.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, names: tuple[str, ...] = SERIES,
                 max_series: int = MAX_SERIES) -> None:
        self._lock = threading.Lock()
        self.capacity = capacity
        self.max_series = max_series
        self._series = {name: SeriesHistory(capacity) for name in names}
        self._rank_series = 0
        self._dropped: set[str] = set()
        self._quiet = False
        self._taps: list[Callable[[str, np.ndarray, np.ndarray], None]] = []

    @property
    def names(self) -> tuple[str, ...]:
        """Series names, in the order they were created."""
        with self._lock:
            return tuple(self._series)

    @property
    def dropped(self) -> tuple[str, ...]:
        """Names refused so far (up to a thousand or so)."""
        with self._lock:
            return tuple(sorted(self._dropped))

    def reserve(self, name: str) -> bool:
        """Make sure series `name` exists; False (after one warning) when it cannot."""
        with self._lock:
            return self._get(name) is not None

    def append(self, name: str, steps: np.ndarray, values: np.ndarray) -> None:
        """Values logged at `steps` (in order, after the series' last step) to series `name`."""
        with self._lock:
            series = self._get(name)
            if series is not None:
                series.extend(steps, values)
                for tap in self._taps:
                    tap(name, steps, values)

    def tap(self, listener: Callable[[str, np.ndarray, np.ndarray], None]) -> dict[str, np.ndarray]:
        """Tell `listener(name, steps, values)` every row appended from now on (under this history's
        lock: it must not block), and return each series' buckets held until now (see `rows`), so
        that a recorder of the raw rows misses none."""
        with self._lock:
            self._taps.append(listener)
            return {name: series.rows() for name, series in self._series.items()}

    def untap(self, listener: Callable[[str, np.ndarray, np.ndarray], None]) -> None:
        with self._lock:
            if listener in self._taps:
                self._taps.remove(listener)

    def _get(self, name: str) -> SeriesHistory | None:
        series = self._series.get(name)
        if series is not None:
            return series
        problem = name_problem(name)
        if not problem and RANK_SERIES.match(name):
            if self._rank_series < MAX_RANK_SERIES:
                self._rank_series += 1
                series = self._series[name] = SeriesHistory(min(self.capacity, RANK_CAPACITY))
                return series
            problem = f"this run already has {MAX_RANK_SERIES} per-rank series"
        if not problem and len(self._series) - self._rank_series < self.max_series:
            capacity = self.capacity if name in SERIES else min(self.capacity, EXTRA_CAPACITY)
            series = self._series[name] = SeriesHistory(capacity)
            return series
        self._drop(name, problem or f"this run already has {self.max_series} series")
        return None

    def _drop(self, name: object, reason: str) -> None:
        key = name if isinstance(name, str) else repr(name)
        if key in self._dropped:
            return
        if len(self._dropped) < _REMEMBERED_DROPS:
            self._dropped.add(key)
        if len(self._dropped) <= _REPORTED_DROPS:
            shown = key if len(key) <= 60 else key[:57] + "..."
            log.warning("metrics: series %r is not recorded: %s", shown, reason)
        elif not self._quiet:
            self._quiet = True
            log.warning("metrics: more series are not recorded (%s); they are no longer named one by one", reason)

    def latest(self, name: str) -> float:
        with self._lock:
            series = self._series.get(name)
            return series.latest if series is not None else float("nan")

    def total(self, name: str) -> int:
        with self._lock:
            series = self._series.get(name)
            return series.total if series is not None else 0

    def totals(self) -> dict[str, int]:
        """Values logged so far, per series (one lock for all)."""
        with self._lock:
            return {name: s.total for name, s in self._series.items()}

    def step_range(self) -> tuple[int, int] | None:
        with self._lock:
            ranges = [r for s in self._series.values() if (r := s.step_range())]
        if not ranges:
            return None
        return min(r[0] for r in ranges), max(r[1] for r in ranges)

    def value_range(self, names: tuple[str, ...], lo: float, hi: float) -> tuple[float, float] | None:
        with self._lock:
            ranges = [r for n in names if n in self._series and (r := self._series[n].value_range(lo, hi))]
        if not ranges:
            return None
        return min(r[0] for r in ranges), max(r[1] for r in ranges)

    def decimate(self, name: str, lo: float, hi: float, columns: int) -> Decimated:
        with self._lock:
            series = self._series.get(name)
            if series is None:
                empty = np.zeros(0)
                return Decimated(empty, empty, empty)
            return series.decimate(lo, hi, columns)

    def rows(self, name: str) -> np.ndarray:
        with self._lock:
            series = self._series.get(name)
            return series.rows() if series is not None else _empty_rows()
