"""Coarse-to-fine grids: every level is a sub-lattice of the next, so no point is computed twice.

A grid of n points per side (n odd) is refined through strides that divide n - 1: for 41,
strides 8, 4, 2, 1 give 6x6, 11x11, 21x21 and 41x41 lattices. Until a level is complete,
the picture is the previous level interpolated (exact on its lattice) with whatever points of
the new level are already known written over it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MIN_SIDE = 5


def strides(n: int) -> list[int]:
    """Strides from the coarsest level to 1, each a multiple of the next and a divisor of n - 1."""
    if n < 2:
        return [1]
    chain = [1]
    while True:
        s = chain[-1]
        nxt = next((m for m in range(2 * s, n, s) if (n - 1) % m == 0), None)
        if nxt is None or (n - 1) // nxt + 1 < MIN_SIDE:
            break
        chain.append(nxt)
    return chain[::-1]


def side(n: int, stride: int) -> int:
    return (n - 1) // stride + 1


class ProgressiveGrid:
    """The values of an n-point (1-D) or n x n (2-D) grid, filled level by level."""

    def __init__(self, n: int, dims: int, device: torch.device | str) -> None:
        self.n, self.dims = n, dims
        shape = (n,) * dims
        self.values = torch.zeros(shape, device=device)
        self.known = torch.zeros(shape, dtype=torch.bool, device=device)
        self.levels = strides(n)
        self.level = 0  # index of the level being computed
        self.done_points = 0
        self.total_points = n**dims
        self.finished_side = 0  # points per side of the finest complete level

    def level_indices(self, k: int) -> torch.Tensor:
        """Flat indices of the points new at level k (coarse levels' points excluded)."""
        s = self.levels[k]
        prev = self.levels[k - 1] if k else None
        axis = torch.arange(0, self.n, s)
        if self.dims == 1:
            grid = axis.unsqueeze(1)
        else:
            grid = torch.cartesian_prod(axis, axis)
        if prev is not None:
            grid = grid[(grid % prev != 0).any(dim=1)]
        return grid[:, 0] * (self.n if self.dims == 2 else 1) + (grid[:, 1] if self.dims == 2 else 0)

    def coords(self, flat_index: torch.Tensor, span: tuple[float, float]) -> torch.Tensor:
        """Plane coordinates (k x dims) of grid points, from -span to +span on each axis."""
        if self.dims == 1:
            idx = flat_index.unsqueeze(1)
        else:
            idx = torch.stack([flat_index // self.n, flat_index % self.n], dim=1)
        t = idx.to(torch.float64) / (self.n - 1) * 2 - 1
        return (t * torch.tensor(span[: self.dims], dtype=torch.float64)).to(torch.float32)

    def write(self, flat_index: torch.Tensor, losses: torch.Tensor) -> None:
        idx = flat_index.to(self.values.device)
        self.values.view(-1)[idx] = torch.nan_to_num(losses.float(), nan=3.0e38, posinf=3.0e38)
        self.known.view(-1)[idx] = True
        self.done_points += len(idx)

    def picture(self) -> torch.Tensor:
        """A fresh full-resolution grid: the finest complete level interpolated, known points kept."""
        finished = [s for s in self.levels[: self.level]]
        if not finished:
            return self.values.clone()
        s = finished[-1]
        lattice = self.values[(slice(None, None, s),) * self.dims]
        lattice = torch.clamp(lattice, max=1e30)  # interpolation must not overflow to inf
        mode = "linear" if self.dims == 1 else "bilinear"
        up = F.interpolate(lattice[None, None], size=(self.n,) * self.dims, mode=mode, align_corners=True)[0, 0]
        return torch.where(self.known, self.values, up)
