import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gpuviz_app.core.probes.weights import histogram as H

# Magnitudes within 2**120 of each other: `fit` keeps x * 2**-e a normal float (module doc).
magnitude = st.floats(min_value=2.0**-60, max_value=2.0**60, width=32)
finite32 = st.one_of(st.just(0.0), magnitude, magnitude.map(lambda v: -v))


def numpy_counts(values: np.ndarray, e: int, k0: int) -> np.ndarray:
    """numpy.histogram on the grid's exact float64 edges; numpy's last bin is closed, ours
    half-open, so values on the top edge (never produced by `fit`) would differ."""
    edges = H.edges(e, k0)
    assert values.size == 0 or values.max() < edges[-1]
    counts, _ = np.histogram(values.astype(np.float64), edges)
    return counts


@settings(max_examples=200, deadline=None)
@given(arrays(np.float32, st.integers(1, 400), elements=finite32))
def test_counts_equal_numpy_histogram_on_the_same_edges(values):
    counts, e, k0 = H.histogram(torch.from_numpy(values))
    np.testing.assert_array_equal(counts.numpy(), numpy_counts(values, int(e), int(k0)))
    assert counts.sum() == values.size


@settings(max_examples=100, deadline=None)
@given(st.floats(-2.0**20, 2.0**20, width=32), st.floats(2.0**-20, 1024.0, width=32), st.integers(2, 2000))
def test_the_grid_follows_the_data_with_at_least_128_bins_used(centre, spread, n):
    values = (centre + spread * np.linspace(-1, 1, n)).astype(np.float32)
    counts, e, k0 = H.histogram(torch.from_numpy(values))
    edges = H.edges(int(e), int(k0))
    assert edges[0] <= values.min() and values.max() < edges[-1]
    used = np.flatnonzero(counts.numpy())
    width = float(np.ldexp(1.0, int(e)))
    ulp_bound = float(np.spacing(np.float32(np.abs(values).max()))) * 8
    if width > ulp_bound:  # unless the data are as fine as float32 itself
        assert used[-1] - used[0] + 1 >= 128  # a span of >= 128 bins: the range fits the data


def test_values_on_bin_edges_and_just_below_them_land_where_numpy_puts_them():
    e, k0 = torch.tensor(-3), torch.tensor(-128)
    edges = H.edges(-3, -128)
    below = np.nextafter(edges[1:-1].astype(np.float32), np.float32(-np.inf))
    values = np.concatenate([edges[:-1].astype(np.float32), below, np.float32([-0.0, 0.0])])
    t = H.bin_index(torch.from_numpy(values), e, k0)
    counts = H.count(t, H.BINS, sanitise=False)
    np.testing.assert_array_equal(counts.numpy(), numpy_counts(values, -3, -128))


def test_non_finite_values_are_not_binned():
    x = torch.tensor([float("nan"), 1.0, float("inf"), -2.0, float("-inf")])
    counts, e, k0 = H.histogram(x)
    assert counts.sum() == 2
    np.testing.assert_array_equal(counts.numpy(), numpy_counts(np.float32([1.0, -2.0]), int(e), int(k0)))


@settings(max_examples=100, deadline=None)
@given(arrays(np.float32, st.integers(1, 300), elements=finite32),
       arrays(np.float32, st.integers(1, 300), elements=st.floats(-8.0, 8.0, width=32)))
def test_union_and_rebin_are_exact(a, b):
    ca, ea, ka = H.histogram(torch.from_numpy(a))
    cb, eb, kb = H.histogram(torch.from_numpy(b))
    lo_a, hi_a = torch.tensor(float(a.min()), dtype=torch.float64), torch.tensor(float(a.max()), dtype=torch.float64)
    lo_b, hi_b = torch.tensor(float(b.min()), dtype=torch.float64), torch.tensor(float(b.max()), dtype=torch.float64)
    e, k0, lo, hi = H.union(ea, ka, lo_a, hi_a, eb, kb, lo_b, hi_b)
    assert e >= max(ea, eb)
    merged = H.rebin(ca, ea, ka, e, k0) + H.rebin(cb, eb, kb, e, k0)
    both = np.concatenate([a, b])
    np.testing.assert_array_equal(merged.numpy(), numpy_counts(both, int(e), int(k0)))
    assert merged.sum() == a.size + b.size


def test_union_with_an_empty_set_keeps_the_other_grid():
    counts, e, k0 = H.histogram(torch.linspace(-1, 1, 100))
    inf = torch.tensor(float("inf"), dtype=torch.float64)
    ue, uk, lo, hi = H.union(torch.tensor(H.E_MIN), torch.tensor(0), inf, -inf,
                             e, k0, torch.tensor(-1.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    assert (int(ue), int(uk)) == (int(e), int(k0))
    assert torch.equal(H.rebin(counts, e, k0, ue, uk), counts)
