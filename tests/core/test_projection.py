import math

import numpy as np
import pytest
import torch

from gpuviz_app.core.probes.embedding.projection import (WarmPCA, align, cold_basis, fused_pass, normalise,
                                                       orthonormal, principal_angles, split_fused_pass)


def fixed_matrix(n: int = 600, d: int = 24, seed: int = 0) -> np.ndarray:
    """Rows with clearly separated (geometrically falling) variances along random axes, plus an offset."""
    rng = np.random.default_rng(seed)
    scales = 10.0 * 0.75 ** np.arange(d) + 0.1
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    return (rng.normal(size=(n, d)) * scales) @ basis.T + 3.0


def numpy_pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T, vt[:k].T


def test_pca_agrees_with_numpy_svd_up_to_sign():
    x = fixed_matrix()
    expected, axes = numpy_pca(x, 2)
    expected /= np.sqrt((expected**2).sum(axis=1).mean())
    got = WarmPCA(dims=2)(torch.from_numpy(x.astype(np.float32))).numpy()
    assert got.shape == (600, 2) and got.dtype == np.float32
    for c in range(2):
        sign = np.sign(np.dot(got[:, c], expected[:, c]))
        np.testing.assert_allclose(sign * got[:, c], expected[:, c], atol=2e-4)


def test_cold_start_of_a_large_matrix_uses_a_randomised_svd_that_finds_the_same_axes():
    x = fixed_matrix(n=20_000, d=256, seed=1).astype(np.float32)  # > 4M elements
    _, axes = numpy_pca(x.astype(np.float64), 3)
    basis = cold_basis(torch.from_numpy(x), 3)
    assert basis.shape == (256, 3)
    assert principal_angles(basis, torch.from_numpy(axes).float()).max() < 1e-2


def test_fused_pass_matches_the_direct_products():
    x = torch.from_numpy(fixed_matrix(n=5000, d=40).astype(np.float32))
    v = orthonormal(torch.randn(40, 5, generator=torch.Generator().manual_seed(0)))
    y, xty, total = fused_pass(x, v, chunk=700)
    torch.testing.assert_close(y, x @ v, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(xty, x.T @ (x @ v), rtol=1e-4, atol=1e-1)
    torch.testing.assert_close(total, x.sum(dim=0), rtol=1e-5, atol=1e-2)


def test_a_pass_split_over_worker_threads_gives_the_same_products(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)  # three row blocks, whatever the machine
    x = torch.from_numpy(fixed_matrix(n=6001, d=256, seed=8).astype(np.float32))  # > 2**20 elements
    v = orthonormal(torch.randn(256, 6, generator=torch.Generator().manual_seed(1)))
    split, whole = split_fused_pass(x, v), fused_pass(x, v)
    for a, b in zip(split, whole):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-2)


def test_warm_started_pca_converges_to_the_cold_subspace():
    x = torch.from_numpy(fixed_matrix(d=48, seed=2).astype(np.float32))
    _, axes = numpy_pca(x.numpy().astype(np.float64), 2)
    pca = WarmPCA(dims=2)
    pca.basis = orthonormal(torch.randn(48, 6, generator=torch.Generator().manual_seed(5)))  # a poor start
    first = principal_angles(pca.basis[:, :2], torch.from_numpy(axes).float()).max()
    for _ in range(25):
        pca(x)
    assert first > 0.5
    assert principal_angles(pca.axes(), torch.from_numpy(axes).float()).max() < 1e-3
    assert pca.cold_starts == 0  # it really was warm-started


def test_a_warm_frame_tracks_slowly_changing_activations():
    x = fixed_matrix(d=32, seed=3)
    pca = WarmPCA(dims=2)
    pca(torch.from_numpy(x.astype(np.float32)))
    drift = np.random.default_rng(4).normal(size=(32, 32)) * 0.02
    moved = x @ (np.eye(32) + drift)
    pca(torch.from_numpy(moved.astype(np.float32)))
    _, axes = numpy_pca(moved, 2)
    assert principal_angles(pca.axes(), torch.from_numpy(axes).float()).max() < 1e-2
    assert pca.cold_starts == 1


@pytest.mark.parametrize("dims", [2, 3])
def test_alignment_keeps_a_rotated_and_flipped_copy_in_place(dims):
    rng = np.random.default_rng(dims)
    cloud = torch.from_numpy((rng.normal(size=(500, dims)) * np.arange(dims, 0, -1)).astype(np.float32))
    q = np.linalg.qr(rng.normal(size=(dims, dims)))[0]
    q[:, 0] *= -1  # a reflection as well as a rotation
    moved = cloud @ torch.from_numpy(q.astype(np.float32))
    assert (moved - cloud).abs().max() > 1.0
    torch.testing.assert_close(align(moved, cloud), cloud, atol=1e-4, rtol=1e-4)


def test_frames_do_not_flip_when_the_solver_flips_or_swaps_the_axes(monkeypatch):
    """Eigen-solvers may return an axis negated, or two axes swapped; the cloud must stay put."""
    x = torch.from_numpy(fixed_matrix(d=16, seed=6).astype(np.float32))
    pca = WarmPCA(dims=2)
    first = pca(x)
    eigh = torch.linalg.eigh

    def flipping_eigh(m):  # the two leading eigenvectors swapped, and one of them negated
        values, vectors = eigh(m)
        vectors = vectors.clone()
        vectors[:, [-1, -2]] = vectors[:, [-2, -1]] * torch.tensor([-1.0, 1.0], dtype=vectors.dtype)
        return values, vectors

    monkeypatch.setattr(torch.linalg, "eigh", flipping_eigh)
    second = pca(x)
    torch.testing.assert_close(second, first, atol=1e-4, rtol=1e-4)
    pca.previous = None  # what a frame without alignment would show: the swapped, flipped picture
    unaligned = pca(x)
    torch.testing.assert_close(unaligned.abs(), first[:, [1, 0]].abs(), atol=1e-3, rtol=1e-3)
    assert (unaligned - first).abs().max() > 0.5


def test_positions_are_normalised_to_unit_rms():
    p = normalise(torch.randn(1000, 2) * 50)
    assert math.isclose(float(p.square().sum(dim=1).mean()), 1.0, rel_tol=1e-5)


def test_fewer_features_than_dimensions_pads_with_zeros():
    x = torch.from_numpy(fixed_matrix(n=100, d=2).astype(np.float32))
    p = WarmPCA(dims=3)(x)
    assert p.shape == (100, 3)
    assert torch.all(p[:, 2] == 0)
