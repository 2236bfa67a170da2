"""Statistics of a sharded tensor that merge exactly across ranks.

Each rank reduces its own shard, on its own device and without reading anything back,
into one float64 row: count of finite values, their sum and sum of squares, min, max,
the non-finite count, and a histogram on the power-of-two grid `(e, k0)` fitted to the
shard (`core.probes.weights.histogram`). The rows of all ranks travel in one collective;
the leader `merge`s them: sums add, extremes take the extreme, and each shard's counts
move onto the union of the shards' grids. Power-of-two grids nest, so every bin of a
shard's grid lies inside one bin of the union grid and the merged counts are exactly
those of the whole tensor (float64 holds counts exactly below 2**53). The union grid is
the one a single process fits to the whole tensor, so the merged figures are those of
the concatenated shards.

float16 and bfloat16 shards are widened to float32 exactly; float64 shards are reduced
as float32, the precision the weights view bins at.
"""

from __future__ import annotations

import numpy as np
import torch

from gpuviz_app.core.probes.weights import histogram

FIELDS = ("count", "total", "sumsq", "min", "max", "nonfinite", "e", "k0")
FIXED = len(FIELDS)
BINS = histogram.BINS
STATS_LEN = FIXED + BINS
_COUNT, _TOTAL, _SUMSQ, _MIN, _MAX, _NONFINITE, _E, _K0 = range(FIXED)


def _empty_row(row: torch.Tensor) -> None:
    """A shard with no values: no count, extremes +inf/-inf, the placeholder grid of `fit`."""
    row.zero_()
    row[_MIN] = float("inf")
    row[_MAX] = float("-inf")
    row[_E] = float(histogram.E_MIN)
    row[_K0] = float(-(BINS // 2))


def _shard_row(x: torch.Tensor, row: torch.Tensor) -> None:
    """Reduce one shard into `row` (float64, STATS_LEN, on the shard's device)."""
    x = x.detach().reshape(-1)
    if x.dtype != torch.float32:
        x = x.float()
    if x.numel() == 0:
        _empty_row(row)
        return
    lo, hi, sanitise = histogram.finite_range(x)
    e, k0 = histogram.fit(lo, hi)
    counts = histogram.count(histogram.bin_index(x, e, k0), BINS, sanitise)
    # `fit` puts every finite value inside the grid, so the bins hold exactly the finite ones.
    count = counts.sum()
    finite = x.nan_to_num(nan=0.0, posinf=0.0, neginf=0.0) if sanitise else x
    total = torch.sum(finite, dtype=torch.float64)
    sumsq = torch.linalg.vector_norm(finite, dtype=torch.float64).square()
    row[:FIXED] = torch.stack([count.double(), total, sumsq, lo.double(), hi.double(),
                               (x.numel() - count).double(), e.double(), k0.double()])
    row[FIXED:] = counts


def local_stats(tensors: list[torch.Tensor | None], out: torch.Tensor | None = None) -> torch.Tensor:
    """(len(tensors), STATS_LEN) float64 rows of this rank's shards, with no host sync.

    A shard may be empty (or None, e.g. a gradient not made yet). Rows are made on the
    tensors' device; `out`, if given (for instance a view into a collective's send
    buffer), must be float64 of that shape on the same device, and is filled and returned.
    """
    if out is None:
        device = next((x.device for x in tensors if x is not None), torch.device("cpu"))
        out = torch.empty(len(tensors), STATS_LEN, dtype=torch.float64, device=device)
    elif out.shape != (len(tensors), STATS_LEN) or out.dtype != torch.float64:
        raise ValueError(f"local_stats: out must be float64 of shape ({len(tensors)}, {STATS_LEN}), "
                         f"not {out.dtype} of shape {tuple(out.shape)}")
    with torch.no_grad():
        for x, row in zip(tensors, out):
            if x is None:
                _empty_row(row)
            else:
                _shard_row(x, row)
    return out


def merge(gathered: torch.Tensor) -> dict[str, np.ndarray]:
    """The figures of each whole tensor from all ranks' rows: gathered is (ranks, T, STATS_LEN).

    Returns numpy arrays named like `DistributedPayload`'s fields: count, total, sumsq,
    min, max, nonfinite, e, k0 of shape (T,), and counts (T, BINS) int64 on the union grid.
    Runs on the CPU: the leader reads the gathered rows once per window.
    """
    if gathered.dim() != 3 or gathered.shape[0] < 1 or gathered.shape[2] != STATS_LEN:
        raise ValueError(f"merge: gathered statistics must have shape (ranks >= 1, tensors, {STATS_LEN}), "
                         f"not {tuple(gathered.shape)}")
    g = gathered.detach().to("cpu", torch.float64, copy=True)  # the result must not alias a reused buffer
    lo_r, hi_r = g[..., _MIN], g[..., _MAX]
    e_r, k0_r = g[..., _E].long(), g[..., _K0].long()
    e, k0, lo, hi = e_r[0], k0_r[0], lo_r[0], hi_r[0]
    for r in range(1, g.shape[0]):
        e, k0, lo, hi = histogram.union(e, k0, lo, hi, e_r[r], k0_r[r], lo_r[r], hi_r[r])
    counts = histogram.rebin(g[..., FIXED:].long(), e_r, k0_r, e, k0).sum(0)
    return {
        "count": g[..., _COUNT].sum(0).long().numpy(),
        "total": g[..., _TOTAL].sum(0).numpy(),
        "sumsq": g[..., _SUMSQ].sum(0).numpy(),
        "min": lo.numpy(),
        "max": hi.numpy(),
        "nonfinite": g[..., _NONFINITE].sum(0).long().numpy(),
        "e": e.numpy(),
        "k0": k0.numpy(),
        "counts": counts.numpy(),
    }
