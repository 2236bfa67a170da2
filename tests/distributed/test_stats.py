"""Statistics merged from shards equal those of the whole tensor (ranks simulated by splitting)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gpuviz_app.core.distributed import stats
from gpuviz_app.core.probes.weights import histogram as H

NAN, INF = float("nan"), float("inf")


def shards_of(x: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    assert sum(sizes) == x.numel()
    return list(torch.split(x.reshape(-1), sizes))


def gather(per_rank: list[list[torch.Tensor]]) -> torch.Tensor:
    """What all_gather_into_tensor hands the leader: each rank's local_stats, stacked by rank."""
    return torch.stack([stats.local_stats(tensors) for tensors in per_rank])


def merged_split(tensors: list[torch.Tensor], sizes: list[list[int]]) -> dict[str, np.ndarray]:
    """Tensor t cut into len(sizes[t]) ranks' shards of the given sizes, then merged."""
    cut = [shards_of(x, s) for x, s in zip(tensors, sizes)]
    ranks = len(sizes[0])
    return stats.merge(gather([[cut[t][r] for t in range(len(tensors))] for r in range(ranks)]))


def even(n: int, ranks: int) -> list[int]:
    return [n // ranks + (r < n % ranks) for r in range(ranks)]


def assert_equals_whole(merged: dict[str, np.ndarray], t: int, x: torch.Tensor) -> None:
    """Merged figures of tensor t == those computed in one process over the whole tensor."""
    values = x.reshape(-1).double()
    ok = torch.isfinite(values)
    finite = values[ok].numpy()
    assert merged["count"][t] == finite.size
    assert merged["nonfinite"][t] == values.numel() - finite.size
    e, k0 = int(merged["e"][t]), int(merged["k0"][t])
    edges = H.edges(e, k0)
    counts = merged["counts"][t]
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, np.histogram(finite, edges)[0])
    assert counts.sum() == finite.size  # no finite value outside the grid
    if finite.size:
        assert merged["min"][t] == finite.min() and merged["max"][t] == finite.max()
        np.testing.assert_allclose(merged["total"][t], finite.sum(), rtol=1e-12, atol=1e-12 * np.abs(finite).sum())
        np.testing.assert_allclose(merged["sumsq"][t], np.square(finite).sum(), rtol=1e-12)
        norm = torch.linalg.vector_norm(torch.from_numpy(finite))
        np.testing.assert_allclose(np.sqrt(merged["sumsq"][t]), norm.item(), rtol=1e-12)
        # the grid a single process fits to the whole tensor
        _, e1, k01 = H.histogram(x.reshape(-1).float())
        assert (e, k0) == (int(e1), int(k01))
    else:
        assert merged["min"][t] == INF and merged["max"][t] == -INF
        assert merged["total"][t] == 0 and merged["sumsq"][t] == 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("ranks", [1, 2, 3, 5, 8])
def test_merged_figures_equal_those_of_the_concatenated_shards(dtype, ranks):
    g = torch.Generator().manual_seed(ranks)
    weight = (torch.randn(997, generator=g) * 0.05 + 0.01).to(dtype)
    grad = (torch.randn(640, generator=g) * 3e-4).to(dtype)
    grad[[5, 300, 600]] = torch.tensor([NAN, INF, -INF], dtype=dtype)  # non-finite: counted, not binned
    scale = (1 + torch.randn(500, generator=g) * 0.02).to(dtype)  # far from zero for its spread, like a norm's weight
    merged = merged_split([weight, grad, scale], [even(997, ranks), even(640, ranks), even(500, ranks)])
    assert merged["count"].shape == (3,) and merged["counts"].shape == (3, stats.BINS)
    assert_equals_whole(merged, 0, weight)
    assert_equals_whole(merged, 1, grad)
    assert_equals_whole(merged, 2, scale)
    assert merged["nonfinite"][1] == 3


def test_the_merged_result_does_not_depend_on_how_the_tensor_is_split():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, generator=g) * torch.logspace(-3, 2, 1000)
    x[[17, 900]] = torch.tensor([NAN, -INF])
    splits = [[1000], [500, 500], [333, 333, 334], [250, 250, 250, 250],
              [1, 998, 1], [0, 600, 400], [700, 0, 0, 300], [10, 20, 40, 80, 160, 320, 370, 0]]
    results = [merged_split([x], [s]) for s in splits]
    assert_equals_whole(results[0], 0, x)
    for split, merged in zip(splits[1:], results[1:]):
        for key in ("count", "min", "max", "nonfinite", "e", "k0", "counts"):
            np.testing.assert_array_equal(merged[key], results[0][key], err_msg=f"{key} with split {split}")
        for key in ("total", "sumsq"):
            np.testing.assert_allclose(merged[key], results[0][key], rtol=1e-12, err_msg=f"{key} with split {split}")


def test_a_shard_a_thousand_times_larger_moves_the_others_onto_a_coarser_grid_exactly():
    g = torch.Generator().manual_seed(1)
    small = [torch.randn(400, generator=g) * 0.01 for _ in range(3)]
    large = torch.randn(400, generator=g) * 10.0
    per_rank = [[s] for s in small] + [[large]]
    rows = gather(per_rank)
    merged = stats.merge(rows)
    assert_equals_whole(merged, 0, torch.cat(small + [large]))
    shard_e = rows[:, 0, stats.FIELDS.index("e")].long()
    assert (shard_e[:3] < merged["e"][0]).all()  # the small shards' grids are finer: they had to be re-binned
    # adding the shards' counts bin by bin, without re-binning, gives something else
    added = rows[:, 0, stats.FIXED:].sum(0).long().numpy()
    assert not np.array_equal(added, merged["counts"][0])


def test_empty_and_entirely_non_finite_shards_contribute_nothing_but_their_non_finite_count():
    x = torch.linspace(-1, 3, 301)
    nothing = torch.zeros(0)
    bad = torch.tensor([NAN, INF, NAN])
    merged = stats.merge(gather([[nothing, nothing], [x, bad], [nothing, nothing], [bad, nothing]]))
    assert_equals_whole(merged, 0, torch.cat([x, bad]))
    assert_equals_whole(merged, 1, bad)
    assert merged["count"][1] == 0 and merged["nonfinite"][1] == 3
    assert not merged["counts"][1].any()
    np.testing.assert_array_equal(merged["e"], [merged["e"][0], H.E_MIN])


def test_rows_are_float64_with_one_row_per_tensor_and_fill_a_given_buffer_in_place():
    assert stats.STATS_LEN == stats.FIXED + H.BINS
    x = torch.randn(50, requires_grad=True)
    rows = stats.local_stats([x, None, x.detach().half()])
    assert rows.shape == (3, stats.STATS_LEN) and rows.dtype == torch.float64
    assert rows[1, stats.FIELDS.index("count")] == 0
    np.testing.assert_array_equal(rows[0, stats.FIXED:].numpy(), H.histogram(x.detach())[0].numpy())
    buffer = torch.full((5 + 2 * stats.STATS_LEN,), -1.0, dtype=torch.float64)  # figures first, then the rows
    view = buffer[5:].view(2, stats.STATS_LEN)
    assert stats.local_stats([x, x], out=view) is view
    np.testing.assert_array_equal(buffer[5:].view(2, -1)[1].numpy(), rows[0].numpy())
    assert (buffer[:5] == -1).all()
    with pytest.raises(ValueError, match="out must be float64"):
        stats.local_stats([x], out=torch.zeros(1, stats.STATS_LEN))
    with pytest.raises(ValueError, match="gathered statistics must have shape"):
        stats.merge(torch.zeros(2, stats.STATS_LEN, dtype=torch.float64))
    assert stats.merge(torch.zeros(3, 0, stats.STATS_LEN, dtype=torch.float64))["counts"].shape == (0, stats.BINS)


magnitude = st.floats(min_value=2.0**-40, max_value=2.0**40, width=32)
element = st.one_of(st.just(0.0), magnitude, magnitude.map(lambda v: -v), st.sampled_from([NAN, INF, -INF]))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.integers(0, 300), elements=element), st.lists(st.integers(0, 300), max_size=7))
def test_any_values_cut_anywhere_merge_to_the_figures_of_the_whole(values, cuts):
    x = torch.from_numpy(values)
    points = sorted(min(c, x.numel()) for c in cuts)
    sizes = np.diff([0, *points, x.numel()]).tolist()
    assert_equals_whole(merged_split([x], [sizes]), 0, x)


@pytest.mark.gpu
def test_on_cuda_rows_are_made_without_a_host_sync_and_equal_the_cpu_rows():
    g = torch.Generator().manual_seed(2)
    tensors = [torch.randn(10_000, generator=g) * 0.02, (torch.randn(3000, generator=g) * 50).half(),
               torch.zeros(0), torch.tensor([NAN, 1.0, -INF]).bfloat16()]
    cuda = [t.cuda() for t in tensors]
    out = torch.empty(len(cuda), stats.STATS_LEN, dtype=torch.float64, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any read-back to the host raises
    try:
        stats.local_stats(cuda, out=out)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert stats.local_stats([None, cuda[0]]).device.type == "cuda"  # made where the shards are
    cpu_rows = stats.local_stats(tensors)
    exact = [i for i, f in enumerate(stats.FIELDS) if f not in ("total", "sumsq")] + list(range(stats.FIXED, stats.STATS_LEN))
    np.testing.assert_array_equal(out.cpu()[:, exact].numpy(), cpu_rows[:, exact].numpy())
    np.testing.assert_allclose(out.cpu()[:, 1:3].numpy(), cpu_rows[:, 1:3].numpy(), rtol=1e-12)
    merged = stats.merge(torch.stack([out, out]))
    assert_equals_whole(merged, 1, torch.cat([tensors[1], tensors[1]]))
