import numpy as np
import pytest

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.export.atomic import OutputExists
from gpuviz_app.export.metrics_csv import COLUMNS, write_metrics_csv
from tests.export.metrics_csv_reader import read_metrics_csv


def filled_history() -> MetricsHistory:
    rng = np.random.default_rng(1)
    history = MetricsHistory(capacity=16)
    steps = np.arange(1000)
    history.append("train_loss", steps, rng.random(1000) * 3)  # merged buckets (capacity 16)
    values = rng.random(10)
    values[3] = np.nan  # a diverged evaluation
    history.append("eval_loss", steps[::100], values)
    history.append("eval_acc", steps[::100], rng.random(10))
    history.append("train_acc", steps, rng.random(1000))
    return history


def test_the_csv_round_trips_exactly(tmp_path):
    history = filled_history()
    path = write_metrics_csv(history, tmp_path / "m.csv")
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    back = read_metrics_csv(path)
    assert set(back) == set(history.names)
    for name in history.names:
        rows = history.rows(name)
        assert len(rows) > 0
        for field in ("first_step", "last_step", "count"):
            assert np.array_equal(back[name][field], rows[field])
        for field in ("min", "max", "mean"):
            assert np.array_equal(back[name][field], rows[field], equal_nan=True)  # bit for bit
    assert back["train_loss"]["count"].sum() == 1000
    assert len(back["train_loss"]) <= 16


def test_the_csv_does_not_replace_an_existing_file(tmp_path):
    target = tmp_path / "m.csv"
    target.write_text("keep")
    with pytest.raises(OutputExists):
        write_metrics_csv(filled_history(), target)
    assert target.read_text() == "keep"
