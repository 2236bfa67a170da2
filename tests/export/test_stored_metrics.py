"""A stored run's metrics exported as CSV and Parquet read back as the values logged, bit for bit."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.export.record_options import parse_step_range
from gpuviz_app.export.stored_metrics import export_metrics, metric_buckets, write_stored_metrics
from gpuviz_app.store.reader import open_run
from tests.export.metrics_csv_reader import read_metrics_csv

STEPS = np.arange(0, 60, 3)
SERIES = ("train_loss", "eval_acc")


def logged_values() -> dict[str, np.ndarray]:
    """Values using every bit of a float64 (a `str` of fewer digits would not give them back)."""
    rng = np.random.default_rng(7)
    return {name: rng.random(len(STEPS)) * 10.0 ** rng.integers(-8, 8, len(STEPS)) for name in SERIES}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A run directory whose snapshots logged `logged_values()` at `STEPS`, one per series and step."""
    from gpuviz_app.store.layout import STORE_FILE, new_run_dir
    from gpuviz_app.store.writer import RunWriter

    values = logged_values()
    run = new_run_dir("exported", dataset="digits", model="mlp", root=str(tmp_path_factory.mktemp("runs")))
    writer = RunWriter(os.path.join(run, STORE_FILE), queue_size=len(STEPS) + 1)
    history = MetricsHistory(names=())
    for i, step in enumerate(STEPS):
        for name in SERIES:
            history.append(name, np.array([step]), np.array([values[name][i]]))
        assert writer.offer(Snapshot(run_id=1, step=int(step), wall_time=100.0 + i, metrics=history, latest={},
                                     dataset="digits", model="mlp"))
    writer.close()
    assert writer.dropped == 0
    return run, values


def read_parquet(path) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    assert table.column_names == ["series", "first_step", "last_step", "min", "max", "mean", "count"]
    names = np.array(table.column("series").to_pylist())
    out = {}
    for name in dict.fromkeys(names):
        rows = table.filter(np.asarray(names == name))
        out[name] = {c: rows.column(c).to_numpy() for c in table.column_names[1:]}
    return out


def check_exported(exported, values, first=None, last=None) -> None:
    keep = np.ones(len(STEPS), bool)
    if first is not None:
        keep &= STEPS >= first
    if last is not None:
        keep &= STEPS <= last
    assert list(exported) == list(SERIES)
    for name in SERIES:
        rows = exported[name]
        assert np.array_equal(rows["first_step"], STEPS[keep]) and np.array_equal(rows["last_step"], STEPS[keep])
        for column in ("min", "max", "mean"):
            assert np.asarray(rows[column], np.float64).tobytes() == values[name][keep].tobytes(), (name, column)
        assert np.all(rows["count"] == 1)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_export_gives_back_the_logged_values_bit_for_bit(stored, tmp_path, suffix):
    run, values = stored
    out = tmp_path / f"metrics.{suffix}"
    assert export_metrics(run, str(out)) == 0
    exported = read_metrics_csv(out) if suffix == "csv" else read_parquet(out)
    check_exported(exported, values)
    reader = open_run(run)
    try:  # the same as the store's own history
        for name, series in reader.rows().items():
            assert np.asarray(exported[name]["mean"], np.float64).tobytes() == series[:, 1].tobytes()
    finally:
        reader.close()


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
@pytest.mark.parametrize("text", ["10:40", "12:", ":12", "9:9"])
def test_a_step_range_keeps_only_the_values_logged_in_it(stored, tmp_path, suffix, text):
    run, values = stored
    out = tmp_path / f"metrics.{suffix}"
    first, last = parse_step_range(text)
    assert export_metrics(run, str(out), (first, last)) == 0
    check_exported(read_metrics_csv(out) if suffix == "csv" else read_parquet(out), values, first, last)


def test_an_existing_file_is_kept_unless_forced(stored, tmp_path, capsys):
    run, values = stored
    out = tmp_path / "metrics.csv"
    out.write_text("precious")
    assert export_metrics(run, str(out)) == 2
    assert capsys.readouterr().err.strip() == f"error: {out}: already exists (use --force to overwrite)"
    assert out.read_text() == "precious"
    assert export_metrics(run, str(out), overwrite=True) == 0
    check_exported(read_metrics_csv(out), values)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]  # no temporary left


def test_parquet_without_pyarrow_is_refused_naming_the_extra(stored, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed: importing it fails
    out = tmp_path / "metrics.parquet"
    assert export_metrics(stored[0], str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {out}: writing Parquet needs the Python package pyarrow, which is not installed "
                   "(pip install 'gpuviz-app[parquet]')")
    assert not out.exists()


@pytest.mark.parametrize("name, sentence", [
    ("metrics.txt", "unsupported metrics file type '.txt'; use .csv or .parquet"),
    ("metrics", "unsupported metrics file type '(none)'; use .csv or .parquet"),
])
def test_an_unknown_file_type_is_refused(stored, tmp_path, capsys, name, sentence):
    out = tmp_path / name
    assert export_metrics(stored[0], str(out)) == 2
    assert capsys.readouterr().err.strip() == f"error: {out}: {sentence}"
    assert not out.exists()


def test_a_folder_that_is_no_run_is_refused_in_one_sentence(tmp_path, capsys):
    assert export_metrics(str(tmp_path), str(tmp_path / "m.csv")) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {tmp_path}: not a gpuviz run (it holds no run.sqlite)"
    assert not (tmp_path / "m.csv").exists()


def test_frames_without_rows_export_their_history_buckets(tmp_path):
    """A run read back in memory (no stored rows) exports what its metrics history holds at its last step."""
    from gpuviz_app.store.frames import MemoryFrames
    from tests.stored_runs import metric_snapshots

    frames = MemoryFrames(metric_snapshots((0, 2, 5, 9)))
    assert not isinstance(getattr(frames, "rows", None), dict)
    out = write_stored_metrics(frames, tmp_path / "m.csv", (2, 5))
    rows = read_metrics_csv(out)["train_loss"]
    assert list(rows["last_step"]) == [2, 5]
    assert list(rows["mean"]) == [1.0 / (2 + 1), 1.0 / (5 + 1)]  # metric_snapshots logs 1 / (step + 1)
    assert [name for name, _ in metric_buckets(frames, (10, None))] == []


def test_a_tensorboard_log_exports_its_scalars_as_logged(tmp_path):
    from tests.store.test_tensorboard import train_and_log

    logged, _ = train_and_log(tmp_path / "logs", steps=7)
    out = tmp_path / "scalars.csv"
    assert export_metrics(str(tmp_path / "logs"), str(out), (2, None)) == 0
    exported = read_metrics_csv(out)
    for tag in ("loss", "eval/accuracy"):
        steps = [s for s in sorted(logged[tag]) if s >= 2]
        assert list(exported[tag]["last_step"]) == steps
        # TensorBoard keeps float32: the values logged, as float32 and back
        want = np.array([logged[tag][s] for s in steps], np.float32).astype(np.float64)
        assert exported[tag]["mean"].tobytes() == want.tobytes(), tag
