import numpy as np
import pytest
import torch

from gpuviz_app.core import histogram as H
from gpuviz_app.core.weight_ring import ColumnRing


def batch(rows: list[np.ndarray]):
    """Bin K steps of S series on one grid per series, as the recorder does."""
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
    ring = ColumnRing(series=2, layers=1, device="cpu", capacity=8)
    for start in range(0, len(data), batch_size):
        ring.add(start + 1, *batch(data[start : start + batch_size]))
    assert ring.steps == 211 and ring.stride == 32 and ring.n == 7
    spans = ring.column_steps()
    assert spans[0, 0] == 1 and spans[-1, 1] == 211
    assert np.all(spans[1:, 0] == spans[:-1, 1] + 1)  # no gap, no overlap
    for c, (first, last) in enumerate(spans):
        for s in range(2):
            values = np.concatenate([data[t - 1][s] for t in range(first, last + 1)])
            edges = H.edges(int(ring.e[c, s]), int(ring.k0[c, s]))
            expected, _ = np.histogram(values.astype(np.float64), edges)
            np.testing.assert_array_equal(ring.counts[c, s].numpy(), expected)
            assert ring.lo[c, s] == values.min() and ring.hi[c, s] == values.max()
        sums = ring.health[c, 0, 0].item()
        expected_sum = sum(float(data[t - 1][0].std()) for t in range(first, last + 1))
        assert sums == pytest.approx(expected_sum, rel=1e-9)
    assert ring.counts[:, 0].sum() == 211 * 300 and ring.counts[:, 1].sum() == 211 * 200
    assert ring.counts[ring.n :].sum() == 0


def test_merging_preserves_totals_and_per_column_sums():
    data = steps_data(16)
    ring = ColumnRing(series=2, layers=1, device="cpu", capacity=16)
    ring.add(1, *batch(data))
    before = ring.counts[:16].sum(-1)  # (16, 2) per-column totals
    health_before = ring.health[:16].clone()
    ring.merge()
    assert ring.n == 8 and ring.stride == 2
    torch.testing.assert_close(ring.counts[:8].sum(-1), before[0::2] + before[1::2], rtol=0, atol=0)
    torch.testing.assert_close(ring.health[:8], health_before[0::2] + health_before[1::2])


def test_steps_must_come_in_order():
    ring = ColumnRing(series=2, layers=1, device="cpu", capacity=8)
    data = steps_data(4)
    ring.add(1, *batch(data[:2]))
    with pytest.raises(ValueError, match="in order"):
        ring.add(2, *batch(data[2:]))


def test_a_gap_spans_columns_that_hold_no_steps_and_merges_stay_exact():
    """Steps 1-20 and 61-100 recorded (the view was hidden in between): every recorded step
    is counted once, columns inside the gap are empty, and `recorded` says what each holds."""
    data = steps_data(100)
    ring = ColumnRing(series=2, layers=1, device="cpu", capacity=8)
    ring.add(1, *batch(data[:20]))
    ring.add(61, *batch(data[60:]))
    assert ring.steps == 100 and ring.recorded_steps == 60
    spans, recorded = ring.column_steps(), ring.recorded_per_column()
    assert spans[0, 0] == 1 and spans[-1, 1] == 100
    for c, (first, last) in enumerate(spans):
        held = [t for t in range(first, last + 1) if t <= 20 or t >= 61]
        assert recorded[c] == len(held)
        for s in range(2):
            if not held:
                assert ring.counts[c, s].sum() == 0
                continue
            values = np.concatenate([data[t - 1][s] for t in held])
            edges = H.edges(int(ring.e[c, s]), int(ring.k0[c, s]))
            expected, _ = np.histogram(values.astype(np.float64), edges)
            np.testing.assert_array_equal(ring.counts[c, s].numpy(), expected)
        assert ring.health[c, 0, 0].item() == pytest.approx(sum(float(data[t - 1][0].std()) for t in held),
                                                           rel=1e-9)
    assert (recorded == 0).any()  # a column inside the gap
