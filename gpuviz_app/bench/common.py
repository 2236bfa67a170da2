"""Figures, timing helpers and the machine description shared by benchmark topics."""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass
class Figure:
    """One measured goal: our figure, the peer's figure, their ratio, and the goal's verdict.

    `ratio` is always "how many times better we are" (>1 is better), whatever the unit:
    for times it is peer/ours, for rates ours/peer. `goal` is the minimum ratio the issue
    asks for (None when the figure is informational).
    """

    key: str
    title: str
    ours: float
    unit: str
    peer: float | None = None
    peer_name: str = ""
    higher_is_better: bool = False
    goal: float | None = None
    goal_text: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)
    # a 95% interval of the ratio, for a figure whose noise is near its goal: a verdict only when the
    # whole interval is on one side of the goal (else None, "no verdict")
    interval: tuple[float, float] | None = None

    @property
    def ratio(self) -> float | None:
        if self.peer is None or not self.ours or not self.peer:
            return None
        return self.ours / self.peer if self.higher_is_better else self.peer / self.ours

    @property
    def passed(self) -> bool | None:
        if self.goal is None or self.ratio is None:
            return None
        if self.interval is not None:
            low, high = self.interval
            return True if low >= self.goal else False if high < self.goal else None
        return self.ratio >= self.goal

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ratio"] = self.ratio
        d["passed"] = self.passed
        return d

    def finite(self) -> bool:
        values = [self.ours] + ([self.peer] if self.peer is not None else [])
        return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def median_interval(values: list[float], resamples: int = 4000) -> tuple[float, float]:
    """A 95% bootstrap interval of the median of `values`."""
    import numpy as np

    if len(values) < 2:
        return (float("nan"), float("nan")) if not values else (values[0], values[0])
    rng = np.random.default_rng(0)
    picks = rng.choice(np.asarray(values, float), size=(resamples, len(values)))
    low, high = np.percentile(np.median(picks, axis=1), [2.5, 97.5])
    return float(low), float(high)


def _timings(fn: Callable[[], object], repeat: int, number: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return times


def best_time(fn: Callable[[], object], repeat: int = 5, number: int = 1, warmup: int = 1) -> float:
    """The best (least disturbed) of `repeat` timings of `number` calls, per call, in seconds.

    The machines are shared and noisy; the minimum is the most repeatable estimate of cost.
    """
    return min(_timings(fn, repeat, number, warmup))


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001
        info["torch"] = None
    return info


def cpu_times() -> list[int] | None:
    """The machine's CPU time so far by kind, in clock ticks (/proc/stat's first line: user, nice,
    system, idle, iowait, irq, softirq, steal, ...), or None where there is no /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    return [int(v) for v in fields[1:]]


def stolen_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """The part of the machine's CPU time between two `cpu_times` that its host gave to others
    (steal): on a shared VM, a run with much of it measured a slower machine than one without."""
    if before is None or after is None or len(before) < 8 or len(after) < 8:
        return None
    spent = [b - a for a, b in zip(before[:8], after[:8])]
    total = sum(spent)
    return spent[7] / total if total > 0 else None
