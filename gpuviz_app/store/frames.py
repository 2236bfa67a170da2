"""Random access to a run by step: what the timeline and the replay source read.

A stored run, an imported TensorBoard log and a list of snapshots held in memory all answer the
same two questions, so the replay source and the timeline cannot tell them apart.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Protocol, Sequence

import numpy as np

from gpuviz_app.core.history import DEFAULT_CAPACITY, MetricsHistory
from gpuviz_app.core.snapshot import Snapshot


@dataclass(frozen=True)
class RunSummary:
    """One line of the runs browser."""

    name: str
    dataset: str = ""
    model: str = ""
    started: float = 0.0  # wall time of the first record
    steps: int = 0  # last step recorded
    final_loss: float = float("nan")
    size_bytes: int = 0
    path: str = ""  # the run directory (or file) it was read from; "" when held in memory


class RunFrames(Protocol):
    """A run whose snapshots can be read at any recorded step."""

    @property
    def summary(self) -> RunSummary: ...

    def steps(self) -> np.ndarray:
        """Every step at which something was recorded, ascending (int64)."""
        ...

    def snapshot_at(self, step: int) -> Snapshot:
        """The run as the display saw it at `step`: metric rows up to `step`, and each view's
        payload as recorded at or before `step` (a view with none recorded yet is absent)."""
        ...


def history_until(rows: dict[str, np.ndarray], step: int) -> MetricsHistory:
    """A metrics history of the rows (name -> (n, 2) array of step, value) logged at or before `step`.

    Its buckets are sized to the rows (one per row until the live history's own capacity is
    reached): the same buckets as live, without allocating that capacity at every scrubbed step.
    """
    upto = {name: int(np.searchsorted(series[:, 0], step, side="right")) for name, series in rows.items()}
    longest = max(upto.values(), default=0)
    capacity = min(DEFAULT_CAPACITY, 1 << max(1, (longest - 1).bit_length()))
    history = MetricsHistory(capacity=capacity, names=())
    for name, series in rows.items():
        if upto[name]:
            history.append(name, series[:upto[name], 0].astype(np.int64), series[:upto[name], 1].astype(np.float64))
    return history


def _bucket_rows(metrics: MetricsHistory) -> dict[str, np.ndarray]:
    """(last step, mean) of each bucket: the logged values themselves while no buckets were merged."""
    out = {}
    for name in metrics.names:
        buckets = metrics.rows(name)
        out[name] = np.column_stack([buckets["last_step"].astype(np.float64), buckets["mean"]])
    return out


class MemoryFrames:
    """Snapshots held in memory (ascending steps), read back like a stored run."""

    def __init__(self, snapshots: Sequence[Snapshot], summary: RunSummary | None = None,
                 rows: dict[str, np.ndarray] | None = None) -> None:
        self._snapshots = list(snapshots)
        self._steps = [s.step for s in self._snapshots]
        if any(b < a for a, b in zip(self._steps, self._steps[1:])):
            raise ValueError("snapshots must come in ascending steps")
        last = self._snapshots[-1] if self._snapshots else None
        self._changes: dict[str, list[int]] = {}  # payload name -> indices of the snapshots carrying it
        for i, snapshot in enumerate(self._snapshots):
            for name in snapshot.parts:
                self._changes.setdefault(name, []).append(i)
        self._rows = rows if rows is not None else (_bucket_rows(last.metrics) if last else {})
        self._summary = summary or RunSummary(
            name="in memory", dataset=last.dataset if last else "", model=last.model if last else "",
            started=self._snapshots[0].wall_time if last else 0.0, steps=last.step if last else 0)

    @property
    def summary(self) -> RunSummary:
        return self._summary

    def steps(self) -> np.ndarray:
        return np.asarray(self._steps, dtype=np.int64)

    def snapshot_at(self, step: int) -> Snapshot:
        i = bisect.bisect_right(self._steps, step) - 1
        if i < 0:
            raise KeyError(f"nothing was recorded at or before step {step}")
        shown = self._snapshots[i]
        parts: dict = {}
        versions: dict = {}
        for name, carriers in self._changes.items():
            j = bisect.bisect_right(carriers, i) - 1
            if j >= 0:
                earlier = self._snapshots[carriers[j]]
                parts[name] = earlier.parts[name]
                versions[name] = earlier.version(name)
        return replace(shown, step=step, metrics=history_until(self._rows, step), parts=parts, versions=versions)
