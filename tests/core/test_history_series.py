"""Any series name a run sends is kept, in bounded memory; unknown names answer empty."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from gpuviz_app.core.history import EXTRA_CAPACITY, MetricsHistory


def test_a_series_is_created_by_its_first_append_in_order():
    history = MetricsHistory(capacity=64, names=())
    assert history.names == ()
    history.append("train/loss", np.arange(1, 4), np.array([3.0, 2.0, 1.0]))
    history.append("grad_norm", np.array([2]), np.array([0.5]))
    assert history.names == ("train/loss", "grad_norm")
    assert history.totals() == {"train/loss": 3, "grad_norm": 1}
    np.testing.assert_array_equal(history.rows("train/loss")["mean"], [3.0, 2.0, 1.0])
    assert history.latest("grad_norm") == 0.5
    assert history.step_range() == (1, 3)


def test_names_beyond_the_cap_are_dropped_with_one_warning_naming_each(caplog):
    history = MetricsHistory(capacity=16, names=(), max_series=3)
    with caplog.at_level(logging.WARNING, logger="gpuviz_app.core.history"):
        for name in ("a", "b", "c", "d", "e", "d"):
            history.append(name, np.array([1]), np.array([1.0]))
        history.append("a", np.array([2]), np.array([2.0]))
    assert history.names == ("a", "b", "c")
    assert history.total("a") == 2 and history.total("d") == 0
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2  # "d" twice, one line
    assert "'d'" in warnings[0] and "3 series" in warnings[0] and "'e'" in warnings[1]
    assert history.dropped == ("d", "e")
    assert not history.reserve("f") and history.reserve("b")


def test_names_that_cannot_name_a_series_are_refused(caplog):
    history = MetricsHistory(capacity=16, names=())
    with caplog.at_level(logging.WARNING, logger="gpuviz_app.core.history"):
        for name in ("", "x" * 500, "two\nlines", 7):
            history.append(name, np.array([1]), np.array([1.0]))
    assert history.names == ()
    assert len(caplog.records) == 4
    assert "at most 200 characters" in caplog.records[1].getMessage()
    assert "control characters" in caplog.records[2].getMessage()


def test_many_new_names_stop_being_named_one_by_one(caplog):
    history = MetricsHistory(capacity=16, names=(), max_series=1)
    with caplog.at_level(logging.WARNING, logger="gpuviz_app.core.history"):
        for i in range(200):
            history.append(f"scalar_{i}", np.array([1]), np.array([1.0]))
    assert len(caplog.records) == 17  # 16 names, then one line saying further ones are not named


def test_unknown_names_answer_empty():
    history = MetricsHistory(capacity=16, names=())
    assert history.total("nope") == 0 and np.isnan(history.latest("nope"))
    assert len(history.rows("nope")) == 0 and len(history.decimate("nope", 0, 10, 5)) == 0
    assert history.value_range(("nope",), 0, 10) is None
    assert history.names == ()  # asking creates nothing


def test_other_series_are_kept_in_fewer_buckets_than_the_four_built_in_ones():
    n = EXTRA_CAPACITY + 5000
    history = MetricsHistory(capacity=1 << 16, names=())
    steps, values = np.arange(1, n + 1), np.linspace(0, 1, n)
    history.append("train_loss", steps, values)
    history.append("lr", steps, values)
    assert len(history.rows("train_loss")) == n  # still one bucket per step
    rows = history.rows("lr")
    assert len(rows) <= EXTRA_CAPACITY and rows["count"].sum() == n
    assert rows["max"].max() == 1.0 and rows["min"].min() == 0.0


def test_steps_that_go_back_are_refused_and_leave_the_series_as_it_was():
    history = MetricsHistory(capacity=16, names=())
    history.append("lr", np.array([1, 2, 2, 3]), np.ones(4))  # a repeated step is fine (an evaluation after it)
    for steps in (np.array([5, 4]), np.array([2])):
        with pytest.raises(ValueError, match="must not go back"):
            history.append("lr", steps, np.ones(len(steps)))
    assert history.total("lr") == 4 and history.step_range() == (1, 3)


def test_per_rank_series_of_many_ranks_neither_crowd_out_other_names_nor_cost_a_full_series():
    from gpuviz_app.core.history import RANK_CAPACITY

    history = MetricsHistory(capacity=1 << 16, names=(), max_series=2)
    for rank in range(64):
        for quantity in ("loss", "steps_per_s", "wait_ms"):
            history.append(f"rank{rank}/{quantity}", np.array([10]), np.array([float(rank)]))
    history.append("lr", np.array([1]), np.array([0.1]))
    history.append("grad_norm", np.array([1]), np.array([2.0]))
    history.append("third", np.array([1]), np.array([3.0]))  # beyond the cap of 2 other names
    assert len(history.names) == 64 * 3 + 2 and history.total("third") == 0
    assert history.latest("rank63/wait_ms") == 63.0
    n = RANK_CAPACITY + 100
    history.append("rank0/loss", np.arange(11, 11 + n), np.ones(n))
    assert len(history.rows("rank0/loss")) <= RANK_CAPACITY and history.total("rank0/loss") == n + 1
