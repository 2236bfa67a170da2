"""Probes: reductions a view needs, computed on the training device between steps.

A probe is created per run (it may keep state, such as the previous projection) and is
called by the session within a time budget: it runs only while the time it has spent
stays under `budget` times the time spent training, so a costly view slows its own
refresh rate, never the training.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol

ProbeFactory = Callable[[Any], "Probe"]


class Probe(Protocol):
    name: str
    budget: float

    def __call__(self, trainer: Any) -> Any: ...


class ProbeScheduler:
    """Decides when each probe may run, from the time it and the training have used."""

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

    def run(self, probe: Probe, trainer: Any) -> Any:
        start = time.perf_counter()
        payload = probe(trainer)
        end = time.perf_counter()
        self.spent[probe.name] = self.spent.get(probe.name, 0.0) + (end - start)
        self.last_run[probe.name] = end
        return payload

    def reset(self) -> None:
        self.spent.clear()
        self.last_run.clear()
        self.train_time = 0.0


# name -> "module:callable" taking the Trainer; imported only when a view asks for it.
PROBES: dict[str, str] = {
    "landscape": "gpuviz_app.core.landscape.probe:landscape_probe",
    "weights": "gpuviz_app.core.weights:weights_probe",
    "embedding": "gpuviz_app.core.embedding:embedding_probe",
}


def probe_factory(name: str) -> ProbeFactory:
    import importlib

    module, _, attr = PROBES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def probe_factories(names: set[str] | list[str]) -> dict[str, ProbeFactory]:
    """Factories that import their probe's module on first use, on the training thread: the
    modules import torch (~1 s), which would otherwise freeze a window that has just appeared."""
    return {name: (lambda trainer, name=name: probe_factory(name)(trainer)) for name in names if name in PROBES}
