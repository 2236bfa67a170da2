"""Histograms on power-of-two grids: exact binning, exact re-binning, no host syncs.

A grid is `(e, k0)`: bin `i` covers `[(k0 + i) * 2**e, (k0 + i + 1) * 2**e)` for i in
[0, bins). Binning computes `floor(x * 2**-e) - k0`, and both steps are exact in float32
(a product by a power of two is exact; `fit` keeps |x * 2**-e| <= 2**22 so the integers
involved are exact too), so counts equal `numpy.histogram` with the same edges. Widths
are powers of two, so a bin of a finer grid lies inside exactly one bin of any coarser
aligned grid: `rebin` moves counts to a coarser or shifted grid with no splitting and
no loss. Everything is vectorised over leading dimensions and stays on the device.

Exactness holds for every finite float32 when the bin width is at most 1 (any set of
values below ~256 in magnitude, so all weights and gradients in practice); with wider
bins, values smaller than 2**-149 bin widths may underflow to the bin at zero.
Non-finite values are not binned.
"""

from __future__ import annotations

import numpy as np
import torch

BINS = 256
E_MIN, E_MAX = -100, 126  # 2**-e stays a normal float32; 256 bins of 2**126 hold every float32
_MAGNITUDE = 22  # |x| / 2**e <= 2**22: bin indices and k0 are exact float32 integers
_FLT_MAX = 3.4028234663852886e38


def fit(lo: torch.Tensor, hi: torch.Tensor, e_floor: torch.Tensor | None = None,
        bins: int = BINS) -> tuple[torch.Tensor, torch.Tensor]:
    """The finest grid with e >= e_floor whose bins hold [lo, hi], data centred.

    `lo`/`hi` are float64; where lo > hi (an empty set) or either is not finite the
    grid is a placeholder (E_MIN, -bins // 2) or the widest grid, respectively.
    Returns int64 (e, k0).
    """
    lo = lo.double()
    hi = hi.double()
    empty = ~(lo <= hi)
    lo = torch.where(empty, 0.0, lo).clamp(-_FLT_MAX, _FLT_MAX)
    hi = torch.where(empty, 0.0, hi).clamp(-_FLT_MAX, _FLT_MAX)
    lo = torch.nan_to_num(lo, nan=-_FLT_MAX)
    hi = torch.nan_to_num(hi, nan=_FLT_MAX)
    mag = torch.maximum(lo.abs(), hi.abs())
    e_mag = torch.ceil(torch.log2(mag)) - _MAGNITUDE
    e_span = torch.ceil(torch.log2((hi - lo) / (bins - 1)))
    floor_ = torch.clamp(e_mag, min=E_MIN)
    if e_floor is not None:
        floor_ = torch.maximum(floor_, e_floor.double())
    e = torch.maximum(e_span, floor_).clamp(E_MIN, E_MAX)

    def fits(ee: torch.Tensor) -> torch.Tensor:
        w = torch.exp2(ee)
        return torch.floor(hi / w) - torch.floor(lo / w) <= bins - 1

    # log2 may round either way near powers of two: take the smallest e that fits.
    e = torch.where((e - 1 >= floor_) & fits(e - 1), e - 1, e)
    e = torch.where(fits(e), e, e + 1).clamp(max=E_MAX)
    w = torch.exp2(e)
    a, b = torch.floor(lo / w), torch.floor(hi / w)
    k0 = a - torch.floor((bins - 1 - (b - a)) / 2)
    e = torch.where(empty, float(E_MIN), e)
    k0 = torch.where(empty, float(-(bins // 2)), k0)
    return e.long(), k0.long()


def edges(e: int, k0: int, bins: int = BINS) -> np.ndarray:
    """The bin edges of one grid, exactly, as float64 (for tests and exports)."""
    return (np.arange(bins + 1, dtype=np.float64) + k0) * np.ldexp(1.0, e)


def bin_index(x: torch.Tensor, e: torch.Tensor, k0: torch.Tensor) -> torch.Tensor:
    """float32 bin indices of `x` on grid (e, k0) (0-dim tensors); exact, see module doc."""
    t = torch.mul(x, torch.exp2(-e.double()).float())
    t.floor_()
    t.sub_(k0.float())
    return t


def count(slots_f: torch.Tensor, slots: int, sanitise: bool) -> torch.Tensor:
    """int64 counts of float slot indices in [0, slots); with `sanitise`, NaN/inf are skipped.

    bincount on the CPU (its fastest counter there); index_add_ elsewhere, because CUDA's
    bincount reads the maximum back to the host.
    """
    flat = slots_f.reshape(-1)
    n = slots
    if sanitise:
        flat.nan_to_num_(nan=float(slots), posinf=float(slots), neginf=float(slots))
        n = slots + 1
    if flat.device.type == "cpu":
        counts = torch.bincount(flat.to(torch.int32), minlength=n)
    else:
        ones = torch.ones(1, dtype=torch.int64, device=flat.device).expand(flat.numel())
        counts = torch.zeros(n, dtype=torch.int64, device=flat.device).index_add_(0, flat.long(), ones)
    return counts[:slots]


def finite_range(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(min, max) of the finite values of `x` (0-dim), and whether `x` may hold non-finite values.

    On the CPU one look at the extremes tells (no device to wait for); on a GPU the
    masked reduction always runs, so nothing is read back.
    """
    lo, hi = torch.aminmax(x)
    if x.device.type == "cpu" and bool(torch.isfinite(lo) & torch.isfinite(hi)):
        return lo, hi, False
    ok = torch.isfinite(x)
    return torch.where(ok, x, float("inf")).amin(), torch.where(ok, x, float("-inf")).amax(), True


def histogram(x: torch.Tensor, bins: int = BINS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact histogram of the finite values of `x` on the grid fitted to them: (counts, e, k0).

    One pass for the range, one fused pass of scale/floor/offset, one counting pass.
    """
    x = x.reshape(-1)
    lo, hi, sanitise = finite_range(x)
    e, k0 = fit(lo, hi, bins=bins)
    return count(bin_index(x, e, k0), bins, sanitise), e, k0


def rebin(counts: torch.Tensor, e_old: torch.Tensor, k0_old: torch.Tensor,
          e_new: torch.Tensor, k0_new: torch.Tensor) -> torch.Tensor:
    """Counts (..., bins) moved from grids (e_old, k0_old) to coarser-or-equal grids (e_new, k0_new).

    The grids broadcast against counts' leading dimensions.
    Exact whenever every non-empty old bin lies inside the new grid (as `union` ensures);
    empty bins may fall outside and are clamped harmlessly.
    """
    bins = counts.shape[-1]
    shift = (e_new - e_old).clamp(0, 62).unsqueeze(-1)
    index = (k0_old.unsqueeze(-1) + torch.arange(bins, device=counts.device)) >> shift
    index = (index - k0_new.unsqueeze(-1)).clamp_(0, bins - 1)
    return torch.zeros_like(counts).scatter_add_(-1, index.expand_as(counts), counts)


def union(e1: torch.Tensor, k01: torch.Tensor, lo1: torch.Tensor, hi1: torch.Tensor,
          e2: torch.Tensor, k02: torch.Tensor, lo2: torch.Tensor, hi2: torch.Tensor,
          bins: int = BINS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The grid holding both sets, at least as coarse as each non-empty one: (e, k0, lo, hi).

    `lo`/`hi` are the sets' value extremes (+inf/-inf when empty).
    """
    lo = torch.minimum(lo1, lo2)
    hi = torch.maximum(hi1, hi2)
    floor1 = torch.where(lo1 <= hi1, e1, E_MIN)
    floor2 = torch.where(lo2 <= hi2, e2, E_MIN)
    e, k0 = fit(lo, hi, torch.maximum(floor1, floor2), bins)
    return e, k0, lo, hi
