"""Several recorded runs read as one, step by step: what the compare window's timeline moves through.

`CompareFrames` is a `RunFrames` whose steps are every step any of its runs recorded; at step s
it gives one snapshot carrying each run as it was at s (its payloads recorded at or before s) in
a `ComparedRuns` part, and every run's metric rows in one history, each series renamed after its
run (`run_series`), so one metrics view can overlay them. A replay source, the timeline and the
frame loop handle it as they handle any recorded run.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from gpuviz_app.core.history import DEFAULT_CAPACITY, MAX_SERIES, MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.store.frames import RunFrames, RunSummary

COMPARED = "compared"  # the part of a compared step's snapshot holding the runs
_RUN_SERIES = re.compile(r"run(\d+):(.+)", re.DOTALL)


def run_series(index: int, name: str) -> str:
    """The name series `name` of run `index` has in a compared step's history."""
    return f"run{index}:{name}"


def split_run_series(name: str) -> tuple[int, str] | None:
    """(run index, the run's own series name) of a compared history's series; None for another name."""
    match = _RUN_SERIES.fullmatch(name)
    return (int(match.group(1)), match.group(2)) if match else None


@dataclass(frozen=True)
class ComparedRuns:
    """The runs at one step: `snapshots[i]` is run i as recorded at or before `step` (an empty
    snapshot where `recorded[i]` is False: the run had recorded nothing yet)."""

    step: int
    names: tuple[str, ...]
    snapshots: tuple[Snapshot, ...]
    recorded: tuple[bool, ...]


def compared_runs(snapshot: Snapshot) -> ComparedRuns | None:
    part = snapshot.parts.get(COMPARED)
    return part if isinstance(part, ComparedRuns) else None


def unique_names(names: Sequence[str]) -> tuple[str, ...]:
    """`names`, a repeated one numbered ("run", "run (2)"), so the legend tells every run apart."""
    out: list[str] = []
    for name in names:
        name = name or "run"
        candidate, n = name, 1
        while candidate in out:
            n += 1
            candidate = f"{name} ({n})"
        out.append(candidate)
    return tuple(out)


def merged_metrics(histories: Sequence[MetricsHistory | None]) -> MetricsHistory:
    """Every run's series in one history, named `run_series(i, name)`: each bucket's (last step,
    mean), that is the logged values themselves while the run's history merged no buckets."""
    rows: dict[str, np.ndarray] = {}
    for i, history in enumerate(histories):
        if history is None:
            continue
        for name in history.names:
            buckets = history.rows(name)
            if len(buckets):
                rows[run_series(i, name)] = np.column_stack([buckets["last_step"], buckets["mean"]])
    longest = max((len(r) for r in rows.values()), default=0)
    capacity = min(DEFAULT_CAPACITY, 1 << max(1, (longest - 1).bit_length()))
    merged = MetricsHistory(capacity=capacity, names=(), max_series=MAX_SERIES * max(1, len(histories)))
    for name, series in rows.items():
        merged.append(name, series[:, 0].astype(np.int64), series[:, 1].astype(np.float64))
    return merged


def _nothing_yet(step: int) -> Snapshot:
    return Snapshot(run_id=0, step=step, wall_time=0.0, metrics=MetricsHistory(capacity=2, names=()), latest={})


class CompareFrames:
    """Two or more runs (`RunFrames`) read in lockstep; `names` label them (default: each run's own
    name). Closing it closes the runs."""

    def __init__(self, runs: Sequence[RunFrames], names: Sequence[str] | None = None) -> None:
        if len(runs) < 2:
            raise ValueError("comparing needs two runs or more")
        self.runs = list(runs)
        self.names = unique_names(list(names) if names is not None else [r.summary.name for r in self.runs])
        self._steps = np.unique(np.concatenate([np.asarray(r.steps(), np.int64) for r in self.runs]))
        self._version = itertools.count(1)

    @property
    def summary(self) -> RunSummary:
        summaries = [r.summary for r in self.runs]
        return RunSummary(name=" vs ".join(self.names), dataset=summaries[0].dataset, model=summaries[0].model,
                          started=min(s.started for s in summaries), steps=int(self._steps[-1]) if len(self._steps)
                          else 0, size_bytes=sum(s.size_bytes for s in summaries))

    def steps(self) -> np.ndarray:
        return self._steps.copy()

    def snapshot_at(self, step: int) -> Snapshot:
        """Each run at `step` (a run with nothing recorded by then is empty); KeyError when none has."""
        shown, recorded = [], []
        for run in self.runs:
            try:
                shown.append(run.snapshot_at(step))
                recorded.append(True)
            except KeyError:
                shown.append(_nothing_yet(step))
                recorded.append(False)
        if not any(recorded):
            raise KeyError(f"nothing was recorded at or before step {step}")
        first = shown[recorded.index(True)]
        part = ComparedRuns(step, self.names, tuple(shown), tuple(recorded))
        metrics = merged_metrics([s.metrics if r else None for s, r in zip(shown, recorded)])
        return Snapshot(run_id=1, step=int(step), wall_time=first.wall_time, metrics=metrics, latest={},
                        parts={COMPARED: part}, versions={COMPARED: next(self._version)}, dataset=first.dataset,
                        model=first.model, finished=True)

    def close(self) -> None:
        for run in self.runs:
            close = getattr(run, "close", None)
            if callable(close):
                close()
