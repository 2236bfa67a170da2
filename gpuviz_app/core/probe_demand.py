"""When each probe may run: the time it and the training have used (see `ProbeScheduler`)."""

from __future__ import annotations

import time
from typing import Any

from gpuviz_app.core.probes import Probe


class ProbeScheduler:
    """Decides when each probe may run, from the time it and the training have used.

    A probe runs only while the time it has spent stays under `budget` times the time spent
    training, so a costly view slows its own refresh rate, never the training."""

    def __init__(self, min_interval_s: float = 1 / 30) -> None:
        self.min_interval_s = min_interval_s
        self.spent: dict[str, float] = {}
        self.last_run: dict[str, float] = {}
        self.train_time = 0.0

    def add_training_time(self, seconds: float) -> None:
        self.train_time += seconds

    def due(self, probe: Probe, now: float, force: bool = False) -> bool:
        if probe.name not in self.last_run or force:
            return True
        if now - self.last_run[probe.name] < self.min_interval_s:
            return False
        return self.spent.get(probe.name, 0.0) <= probe.budget * self.train_time

    def run(self, probe: Probe, context: Any) -> Any:
        start = time.perf_counter()
        payload = probe(context)
        end = time.perf_counter()
        self.spent[probe.name] = self.spent.get(probe.name, 0.0) + (end - start)
        self.last_run[probe.name] = end
        return payload

    def reset(self) -> None:
        self.spent.clear()
        self.last_run.clear()
        self.train_time = 0.0
