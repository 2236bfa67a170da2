"""Small recorded runs for tests: snapshots with metric rows, written to a run store."""

from __future__ import annotations

import os

import numpy as np

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot


def metric_snapshots(steps=(0, 2, 5, 9)) -> list[Snapshot]:
    """One snapshot per step, each with a loss row logged at it (no view payloads)."""
    history = MetricsHistory(names=())
    out = []
    for step in steps:
        history.append("train_loss", np.array([step]), np.array([1.0 / (step + 1)]))
        out.append(Snapshot(run_id=1, step=step, wall_time=100.0 + step, metrics=history,
                            latest={"train_loss": 1.0 / (step + 1)}, dataset="digits", model="mlp"))
    return out


def write_stored_run(root, steps=(0, 2, 5, 9)) -> str:
    """A run directory holding `metric_snapshots(steps)`; its path."""
    from gpuviz_app.store.layout import new_run_dir
    from gpuviz_app.store.reader import STORE_FILE
    from gpuviz_app.store.writer import RunWriter

    run = new_run_dir("test run", dataset="digits", model="mlp", root=str(root))
    writer = RunWriter(os.path.join(run, STORE_FILE))
    for snap in metric_snapshots(steps):
        assert writer.offer(snap)
    writer.close()
    return run
