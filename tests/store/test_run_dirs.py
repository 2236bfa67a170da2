"""Runs are kept one directory each under the runs directory, listed, renamed, deleted to a trash
inside it and restored."""

from __future__ import annotations

import math
import os

import numpy as np

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.store.layout import (STORE_FILE, delete_run, new_run_dir, rename_run, restore_run,
                                     runs_dir)
from gpuviz_app.store.reader import open_run
from gpuviz_app.store.runs import list_runs
from gpuviz_app.store.writer import RunWriter


def test_the_runs_directory_is_gpuviz_runs_when_set_else_under_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUVIZ_RUNS", str(tmp_path / "mine"))
    assert runs_dir() == str(tmp_path / "mine")
    monkeypatch.delenv("GPUVIZ_RUNS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert runs_dir() == str(tmp_path / "data" / "gpuviz" / "runs")


def write_run(root, name, losses) -> str:
    run = new_run_dir(name, dataset="digits", model="cnn", root=str(root), started=1.7e9)
    writer = RunWriter(os.path.join(run, STORE_FILE))
    history = MetricsHistory()
    for step, loss in enumerate(losses, 1):
        history.append("train_loss", np.array([step]), np.array([loss]))
        writer.offer(Snapshot(run_id=1, step=step, wall_time=1.7e9 + step, metrics=history, latest={},
                              dataset="digits", model="cnn"))
    writer.close()
    return run


def test_runs_are_listed_renamed_deleted_to_the_trash_and_restored(tmp_path):
    first = write_run(tmp_path, "baseline run", [2.0, 1.5, 1.25])
    second = write_run(tmp_path, "baseline run", [3.0, 0.5])  # same name and second: its own directory
    assert first != second and os.path.basename(first).endswith("baseline-run")
    listed = list_runs(str(tmp_path))
    assert [(r.path, r.name, r.dataset, r.model, r.steps, r.final_loss) for r in listed] == [
        (first, "baseline run", "digits", "cnn", 3, 1.25), (second, "baseline run", "digits", "cnn", 2, 0.5)]
    assert all(r.size_bytes > 0 and r.started == 1.7e9 for r in listed)

    rename_run(second, "lower lr")
    assert [r.name for r in list_runs(str(tmp_path))] == ["baseline run", "lower lr"]
    assert open_run(second).summary.name == "lower lr"

    trashed = delete_run(first)
    assert not os.path.exists(first) and [r.path for r in list_runs(str(tmp_path))] == [second]
    restored = restore_run(trashed)
    assert restored == first and [r.path for r in list_runs(str(tmp_path))] == [first, second]
    assert open_run(first).snapshot_at(3).metrics.latest("train_loss") == 1.25


def test_a_run_whose_store_is_not_one_is_listed_from_its_meta(tmp_path):
    run = new_run_dir("broken", root=str(tmp_path))
    with open(os.path.join(run, STORE_FILE), "wb") as f:
        f.write(b"garbage" * 100)
    (listed,) = list_runs(str(tmp_path))
    assert listed.name == "broken" and listed.steps == 0 and math.isnan(listed.final_loss)
