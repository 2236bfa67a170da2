import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuviz_app.core.history import MetricsHistory, SeriesHistory


def brute_columns(steps, values, lo, hi, columns):
    """Reference: the min and max of all raw values whose step falls in each column."""
    width = hi - lo
    col = np.clip(((steps - lo) / width * columns).astype(int), 0, columns - 1)
    return {c: (values[col == c].min(), values[col == c].max()) for c in np.unique(col)}


def test_small_series_is_kept_exactly():
    s = SeriesHistory(capacity=8)
    s.extend(np.arange(1, 6), np.array([5.0, 4, 3, 2, 1]))
    d = s.decimate(0, 10, 100)
    np.testing.assert_array_equal(d.x, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(d.ymin, [5, 4, 3, 2, 1])
    assert s.stride == 1 and len(s) == 5


def test_merging_keeps_every_extreme_after_a_million_steps():
    rng = np.random.default_rng(0)
    n = 1_000_000
    values = rng.normal(1.0, 0.1, n)
    values[700_123] = 50.0  # one spike
    values[12] = -3.0
    s = SeriesHistory(capacity=1 << 12)
    for start in range(0, n, 4096):  # arrives in chunks, like flushes
        s.extend(np.arange(start + 1, min(start + 4097, n + 1)), values[start : start + 4096])
    assert len(s) <= 1 << 12
    assert s.total == n
    d = s.decimate(0, n, 1000)
    assert len(d) <= 1000
    assert d.ymax.max() == 50.0
    assert d.ymin.min() == -3.0
    rows = s.rows()
    assert rows["count"].sum() == n
    assert rows["first_step"][0] == 1 and rows["last_step"][-1] == n
    np.testing.assert_allclose((rows["mean"] * rows["count"]).sum(), values.sum(), rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3000),
    capacity=st.sampled_from([2, 4, 16, 64]),
    chunk=st.integers(1, 500),
    columns=st.integers(1, 300),
    seed=st.integers(0, 2**16),
)
def test_decimation_brackets_the_raw_data(n, capacity, chunk, columns, seed):
    """Each column's (min, max) lies within the raw extremes of the steps it spans, and the
    overall extremes are exact, whatever the merging did."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=n)
    steps = np.arange(1, n + 1)
    s = SeriesHistory(capacity=capacity)
    for i in range(0, n, chunk):
        s.extend(steps[i : i + chunk], values[i : i + chunk])
    d = s.decimate(0, n, columns)
    assert d.ymin.min() == values.min()
    assert d.ymax.max() == values.max()
    assert np.all(np.diff(d.x) > 0)
    assert len(d) <= columns


def test_non_finite_values_do_not_poison_the_extremes():
    s = SeriesHistory(capacity=4)
    s.extend(np.arange(1, 9), np.array([1.0, np.nan, 3, np.inf, 2, 2, 2, 0.5]))
    assert s.value_range(0, 10) == (0.5, 3.0)


def test_window_selects_only_the_visible_steps():
    s = SeriesHistory(capacity=64)
    s.extend(np.arange(1, 41), np.arange(1, 41, dtype=float))
    d = s.decimate(10, 20, 50)
    assert d.x.min() >= 10 and d.x.max() <= 20
    assert s.value_range(10, 20) == (10.0, 20.0)


def test_metrics_history_ranges_span_all_series():
    h = MetricsHistory(capacity=16)
    h.append("train_loss", np.arange(1, 11), np.linspace(2, 1, 10))
    h.append("eval_loss", np.array([0, 10]), np.array([3.0, 0.5]))
    assert h.step_range() == (0, 10)
    assert h.value_range(("train_loss", "eval_loss"), 0, 10) == (0.5, 3.0)
    assert h.total("train_loss") == 10


def test_capacity_must_be_even():
    with pytest.raises(ValueError):
        SeriesHistory(capacity=3)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 200), capacity=st.sampled_from([2, 8, 64, 256]), chunk=st.integers(1, 70),
       seed=st.integers(0, 2**16))
def test_the_buckets_do_not_depend_on_how_the_values_arrive(n, capacity, chunk, seed):
    """Values appended all at once, in chunks and one at a time (filling fresh buckets directly
    while nothing merged, through the merging path after) leave the same buckets, non-finite
    values included (means up to the order floats are summed in)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=n)
    values[rng.random(n) < 0.1] = np.nan
    values[rng.random(n) < 0.05] = -np.inf
    steps = np.arange(1, n + 1) * 3
    whole, chunked, single = (SeriesHistory(capacity=capacity) for _ in range(3))
    whole.extend(steps, values)
    for i in range(0, n, chunk):
        chunked.extend(steps[i:i + chunk], values[i:i + chunk])
    for i in range(n):
        single.extend(steps[i:i + 1], values[i:i + 1])
    expected = whole.rows()
    for history in (chunked, single):
        got = history.rows()
        for name in ("first_step", "last_step", "min", "max", "count"):
            np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
        np.testing.assert_allclose(got["mean"], expected["mean"], rtol=1e-12, atol=1e-15)
        assert history.total == n and history.latest == whole.latest or np.isnan(whole.latest)
