"""PCA that follows a moving cloud: warm-started subspace iteration, aligned frame to frame.

A cold PCA of 100,000 x 256 activations costs a full covariance or SVD. Between two
training frames the principal subspace barely moves, so each frame starts from the
previous basis and refines it with one fused pass over the data (X @ V, then X^T [XV, 1]
on the same rows while they are in cache), which also gives the mean and the
Rayleigh-Ritz matrix. Positions are then rotated (orthogonal Procrustes) onto the previous
frame's, so the cloud moves smoothly instead of flipping or spinning.
"""

from __future__ import annotations

import torch

from gpuviz_app.core.cpu_workers import shared_workers, split

# Row chunks of about this many bytes keep a chunk in cache for its second product on CPU.
_CHUNK_BYTES = 2 << 20
# Cold starts use an exact SVD up to this many matrix elements, a randomised one beyond.
_EXACT_SVD_ELEMENTS = 1 << 22
# Below this many elements a pass is too short to be worth splitting across threads.
_SPLIT_ELEMENTS = 1 << 20


def orthonormal(z: torch.Tensor) -> torch.Tensor:
    return torch.linalg.qr(z, mode="reduced")[0]


def cold_basis(x: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """The top-`k` principal axes (D, k) of `x` computed from scratch."""
    n, d = x.shape
    k = min(k, d, n)
    if n * d <= _EXACT_SVD_ELEMENTS:
        centred = x - x.mean(dim=0, keepdim=True)
        return torch.linalg.svd(centred, full_matrices=False)[2][:k].T.contiguous()
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(seed)
        v = torch.pca_lowrank(x, q=min(k + 8, d, n), center=True, niter=4)[2]
    return v[:, :k].contiguous()


def fused_pass(x: torch.Tensor, v: torch.Tensor,
               chunk: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One read of `x`: Y = X V (N, k), X^T Y (D, k) and the column sums of X (D,)."""
    n, d = x.shape
    k = v.shape[1]
    if chunk is None:
        chunk = n if x.device.type != "cpu" else max(256, _CHUNK_BYTES // (4 * d))
    y = torch.empty(n, k, device=x.device, dtype=x.dtype)
    xty = torch.zeros(k, d, device=x.device, dtype=x.dtype)
    total = torch.zeros(d, device=x.device, dtype=x.dtype)
    for start in range(0, n, chunk):
        rows = x[start : start + chunk]
        yc = torch.mm(rows, v, out=y[start : start + chunk])
        xty.addmm_(yc.T, rows)
        total += rows.sum(dim=0)
    return y, xty.T, total


def split_fused_pass(x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`fused_pass`, on the CPU split by rows over one single-threaded worker per torch thread."""
    threads = torch.get_num_threads()
    if x.device.type != "cpu" or threads < 2 or x.numel() < _SPLIT_ELEMENTS:
        return fused_pass(x, v)
    workers = shared_workers("gpuviz-pca", threads)
    parts = workers.run([lambda a=a, b=b: fused_pass(x[a:b], v) for a, b in split(x.shape[0], threads)])
    y = torch.cat([p[0] for p in parts])
    return y, sum(p[1] for p in parts), sum(p[2] for p in parts)


def procrustes(positions: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """The orthogonal R (rotation or reflection) minimising |positions R - reference|."""
    m = positions.T @ reference
    u, _, vh = torch.linalg.svd(m)
    return u @ vh


def align(positions: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
    """`positions` rotated onto `reference` (the previous frame of the same samples)."""
    if reference is None or reference.shape != positions.shape:
        return positions
    return positions @ procrustes(positions, reference)


def normalise(positions: torch.Tensor) -> torch.Tensor:
    """Scaled to unit RMS distance from the origin: the view's range stays put as activations grow."""
    rms = positions.square().sum(dim=1).mean().sqrt()
    return positions / rms.clamp_min(1e-12)


class WarmPCA:
    """Projects (N, D) activations to `dims` principal axes, starting from the last frame's basis.

    The basis keeps `oversample` extra axes: the subspace iteration converges at the rate
    of the gap between eigenvalue `dims` and `dims + oversample + 1`, so a single pass per
    frame tracks a slowly moving subspace. `iters` passes are made per frame; each
    refines the basis, the last also yields the positions. Positions are normalised and
    aligned to the previous frame's (same samples), all on the device of `x`.
    """

    def __init__(self, dims: int = 2, oversample: int = 4, iters: int = 1, seed: int = 0) -> None:
        self.dims = dims
        self.oversample = oversample
        self.iters = max(1, iters)
        self.seed = seed
        self.basis: torch.Tensor | None = None  # (D, k) orthonormal
        self.previous: torch.Tensor | None = None  # last positions (N, dims)
        self.cold_starts = 0

    def reset(self) -> None:
        self.basis = None
        self.previous = None

    def needs_cold_start(self, x: torch.Tensor) -> bool:
        b = self.basis
        return b is None or b.shape[0] != x.shape[1] or b.device != x.device or b.dtype != x.dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, d = x.shape
        k = min(self.dims + self.oversample, d, n)
        if self.needs_cold_start(x) or self.basis.shape[1] != k:
            self.basis = cold_basis(x, k, self.seed)
            self.previous = None
            self.cold_starts += 1
        v = self.basis
        for _ in range(self.iters - 1):
            v = self._refine(x, v)[0]
        positions, self.basis = self._project(x, v)
        positions = align(normalise(positions), self.previous)
        self.previous = positions
        return positions

    @staticmethod
    def _covariance_times(x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Y = X V, mean, and C V for the covariance C of `x`, from one fused pass."""
        n = x.shape[0]
        y, xty, total = split_fused_pass(x, v)
        mean = total / n
        mv = mean @ v
        cv = xty / n - torch.outer(mean, mv)
        return y, mv, cv

    def _refine(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, _, cv = self._covariance_times(x, v)
        return orthonormal(cv), cv

    def _project(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rayleigh-Ritz in span(v): positions on the leading Ritz vectors, and the next basis."""
        y, mv, cv = self._covariance_times(x, v)
        small = v.T @ cv
        small = (small + small.T) / 2
        _, vectors = torch.linalg.eigh(small)  # ascending
        top = vectors.flip(1)[:, : self.dims]
        positions = (y - mv) @ top
        if positions.shape[1] < self.dims:  # fewer features than dimensions shown
            pad = positions.new_zeros(positions.shape[0], self.dims - positions.shape[1])
            positions = torch.cat([positions, pad], dim=1)
        return positions.contiguous(), orthonormal(cv @ vectors.flip(1))

    def axes(self) -> torch.Tensor | None:
        """The current leading axes (D, dims), for tests and diagnostics."""
        return None if self.basis is None else self.basis[:, : self.dims]


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians) between the column spaces of `a` and `b`."""
    qa, qb = orthonormal(a), orthonormal(b)
    s = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return torch.arccos(s)
