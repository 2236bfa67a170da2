import numpy as np
import pytest
import torch

from gpuviz_app.core.probes.weights import histogram as H
from gpuviz_app.core.probes.weights.columns import HistogramColumns


def batch(rows: list[np.ndarray]):
    """Bin K steps of S series on one grid per series, as the tracker does."""
    k, s = len(rows), len(rows[0])
    lo = torch.tensor([[float(v.min()) for v in r] for r in rows], dtype=torch.float64)
    hi = torch.tensor([[float(v.max()) for v in r] for r in rows], dtype=torch.float64)
    e, k0 = H.fit(lo.amin(0), hi.amax(0))
    hist = torch.zeros(k, s, H.BINS, dtype=torch.int64)
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            t = H.bin_index(torch.from_numpy(v), e[j], k0[j])
            hist[i, j] = H.count(t, H.BINS, sanitise=False)
    health = torch.tensor([[[float(r[0].std())], [float(r[1].mean())], [1.0], [0.0]] for r in rows],
                          dtype=torch.float64)
    return hist, e, k0, lo, hi, torch.zeros(k, s, dtype=torch.int64), health


def steps_data(n_steps: int, seed: int = 0) -> list[list[np.ndarray]]:
    """Two series per step: one spreading out, one shrinking by 100x (like gradients)."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(n_steps):
        a = (rng.standard_normal(300) * (0.1 + t / 50)).astype(np.float32)
        b = (rng.standard_normal(200) * 0.3 / (1 + t / 3) + 0.01).astype(np.float32)
        out.append([a, b])
    return out


@pytest.mark.parametrize("batch_size", [1, 7, 32])
def test_every_step_is_counted_once_and_columns_merge_exactly(batch_size):
    data = steps_data(211)
    columns = HistogramColumns(series=2, layers=1, device="cpu", capacity=8)
    for start in range(0, len(data), batch_size):
        columns.add(start + 1, *batch(data[start : start + batch_size]))
    assert columns.steps == 211 and columns.stride == 32 and columns.n == 7
    spans = columns.column_steps()
    assert spans[0, 0] == 1 and spans[-1, 1] == 211
    assert np.all(spans[1:, 0] == spans[:-1, 1] + 1)  # no gap, no overlap
    for c, (first, last) in enumerate(spans):
        for s in range(2):
            values = np.concatenate([data[t - 1][s] for t in range(first, last + 1)])
            edges = H.edges(int(columns.e[c, s]), int(columns.k0[c, s]))
            expected, _ = np.histogram(values.astype(np.float64), edges)
            np.testing.assert_array_equal(columns.counts[c, s].numpy(), expected)
            assert columns.lo[c, s] == values.min() and columns.hi[c, s] == values.max()
        sums = columns.health[c, 0, 0].item()
        expected_sum = sum(float(data[t - 1][0].std()) for t in range(first, last + 1))
        assert sums == pytest.approx(expected_sum, rel=1e-9)
    assert columns.counts[:, 0].sum() == 211 * 300 and columns.counts[:, 1].sum() == 211 * 200
    assert columns.counts[columns.n :].sum() == 0


def test_merging_preserves_totals_and_per_column_sums():
    data = steps_data(16)
    columns = HistogramColumns(series=2, layers=1, device="cpu", capacity=16)
    columns.add(1, *batch(data))
    before = columns.counts[:16].sum(-1)  # (16, 2) per-column totals
    health_before = columns.health[:16].clone()
    columns.merge()
    assert columns.n == 8 and columns.stride == 2
    torch.testing.assert_close(columns.counts[:8].sum(-1), before[0::2] + before[1::2], rtol=0, atol=0)
    torch.testing.assert_close(columns.health[:8], health_before[0::2] + health_before[1::2])


def test_steps_must_come_in_order():
    columns = HistogramColumns(series=2, layers=1, device="cpu", capacity=8)
    data = steps_data(4)
    columns.add(1, *batch(data[:2]))
    with pytest.raises(ValueError, match="in order"):
        columns.add(2, *batch(data[2:]))


def test_a_gap_spans_columns_that_hold_no_steps_and_merges_stay_exact():
    """Steps 1-20 and 61-100 tracked (the view was hidden in between): every tracked step
    is counted once, columns inside the gap are empty, and `tracked` says what each holds."""
    data = steps_data(100)
    columns = HistogramColumns(series=2, layers=1, device="cpu", capacity=8)
    columns.add(1, *batch(data[:20]))
    columns.add(61, *batch(data[60:]))
    assert columns.steps == 100 and columns.tracked_steps == 60
    spans, tracked = columns.column_steps(), columns.tracked_per_column()
    assert spans[0, 0] == 1 and spans[-1, 1] == 100
    for c, (first, last) in enumerate(spans):
        held = [t for t in range(first, last + 1) if t <= 20 or t >= 61]
        assert tracked[c] == len(held)
        for s in range(2):
            if not held:
                assert columns.counts[c, s].sum() == 0
                continue
            values = np.concatenate([data[t - 1][s] for t in held])
            edges = H.edges(int(columns.e[c, s]), int(columns.k0[c, s]))
            expected, _ = np.histogram(values.astype(np.float64), edges)
            np.testing.assert_array_equal(columns.counts[c, s].numpy(), expected)
        assert columns.health[c, 0, 0].item() == pytest.approx(sum(float(data[t - 1][0].std()) for t in held),
                                                           rel=1e-9)
    assert (tracked == 0).any()  # a column inside the gap
