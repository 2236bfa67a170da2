"""Directions, batched evaluation and coarse-to-fine grids of the loss landscape."""

import pytest
import torch
from torch import nn

from gpuviz_app.core.probes.landscape.evaluate import SurfaceEvaluator
from gpuviz_app.core.probes.landscape.levels import ProgressiveGrid, side, strides
from gpuviz_app.core.probes.landscape.params import (ParamLayout, filter_normalised, pca_directions, project,
                                              random_directions)
from gpuviz_app.core.models import MLP, SmallCNN


class Quadratic(nn.Module):
    """Its output is its weight; with `QuadraticLoss` the loss is sum(a * (w - t)^2)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.weight = nn.Parameter(torch.randn(4, 6, generator=g))
        self.bias = nn.Parameter(torch.randn(4, generator=g))

    def forward(self, x):
        return torch.cat([self.weight.reshape(-1), self.bias]) + 0 * x.sum()


class QuadraticLoss(nn.Module):
    def __init__(self, a: torch.Tensor, t: torch.Tensor) -> None:
        super().__init__()
        self.a, self.t = a, t

    def forward(self, out, y):
        return (self.a * (out - self.t) ** 2).sum()


def quadratic_setup():
    model = Quadratic()
    g = torch.Generator().manual_seed(5)
    a = torch.rand(28, generator=g) + 0.5
    t = torch.randn(28, generator=g)
    x, y = torch.zeros(3, 1), torch.zeros(3, dtype=torch.long)
    return model, QuadraticLoss(a, t), x, y, a, t


def test_the_surface_of_a_quadratic_equals_the_formula():
    model, loss_fn, x, y, a, t = quadratic_setup()
    ev = SurfaceEvaluator(model, loss_fn, x, y)
    centre = ev.layout.flatten(model)
    dirs = random_directions(centre, ev.layout, 2, seed=1, include_bias=True)
    grid = ProgressiveGrid(11, 2, "cpu")
    idx = torch.arange(121)
    coords = grid.coords(idx, (0.5, 2.0))
    got = ev.plane_losses(centre, dirs, coords)
    for k in range(121):
        w = centre + coords[k, 0] * dirs[0] + coords[k, 1] * dirs[1]
        assert torch.isclose(got[k], (a * (w - t) ** 2).sum(), rtol=1e-5)
    # the grid spans [-0.5, 0.5] x [-2, 2] with the centre in the middle
    assert coords[0].tolist() == [-0.5, -2.0] and coords[60].tolist() == [0.0, 0.0]


def filters_of(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).norm(dim=1)


def test_each_filter_of_a_normalised_direction_has_the_norm_of_its_weight_filter():
    for model in (SmallCNN(1, 10, (8, 8)), MLP(64, 10)):
        layout = ParamLayout(model)
        w = layout.flatten(model)
        d = random_directions(w, layout, 2, seed=0)
        assert not torch.allclose(d[0], d[1])
        parts = [layout.unflatten(v) for v in (w, d[0], d[1])]
        checked = 0
        for name, p in model.named_parameters():
            if p.dim() > 1:  # convolution output channels, rows of linear layers
                for direction in parts[1:]:
                    torch.testing.assert_close(filters_of(direction[name]), filters_of(parts[0][name]))
                checked += 1
            else:  # biases: zero by default
                assert torch.count_nonzero(parts[1][name]) == 0
        assert checked >= 2


def test_including_biases_moves_them_along_the_weights_and_normalisation_layers_count_as_biases():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 36, 3))
    layout = ParamLayout(model)
    assert [s.filters for s in layout.slots] == [True, False, False, False, True, False]
    w = layout.flatten(model)
    w = w + torch.randn_like(w)  # make batch-norm weights differ from 1
    with_bias = layout.unflatten(filter_normalised(torch.randn_like(w), w, layout, include_bias=True))
    ws = layout.unflatten(w)
    for name in ("0.bias", "1.weight", "1.bias", "3.bias"):
        torch.testing.assert_close(with_bias[name], ws[name])
    assert layout.filter_mask("cpu").sum() == 4 * 9 + 3 * 144


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize("pointwise,threads", [(False, 2), (True, 1), (True, 3)],
                         ids=["vmap", "pointwise", "pointwise-3-workers"])
def test_batched_and_one_by_one_evaluation_agree(pointwise, threads, torch_threads):
    torch_threads(threads)  # the pointwise path splits points over this many workers
    torch.manual_seed(0)
    model = SmallCNN(1, 10, (8, 8))
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    ev = SurfaceEvaluator(model, nn.CrossEntropyLoss(), x, y, chunk=7, pointwise=pointwise)
    assert ev.pointwise is pointwise
    centre = ev.layout.flatten(model)
    dirs = random_directions(centre, ev.layout, 2, seed=2)
    coords = torch.rand(20, 2) * 2 - 1
    flats = centre + coords @ dirs
    batched = ev.losses(flats)  # 3 chunks of 7, 7, 6
    plane = ev.plane_losses(centre, dirs, coords)
    single = torch.stack([ev.loss(f) for f in flats])
    assert (batched - single).abs().max() < 1e-5
    assert (plane - single).abs().max() < 1e-5
    # the reference: the model itself with those weights
    probe = SmallCNN(1, 10, (8, 8))
    torch.nn.utils.vector_to_parameters(flats[3], probe.parameters())
    with torch.no_grad():
        assert abs(nn.functional.cross_entropy(probe(x), y) - single[3]) < 1e-5


def test_the_evaluator_never_touches_the_trained_module():
    model = MLP(8, 3)
    ev = SurfaceEvaluator(model, nn.CrossEntropyLoss(), torch.randn(5, 8), torch.zeros(5, dtype=torch.long))
    before = [p.clone() for p in model.parameters()]
    ev.losses(torch.randn(4, ev.layout.size))
    assert ev.module is not model
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_strides_refine_coarse_to_fine_and_nest():
    assert strides(41) == [8, 4, 2, 1] and [side(41, s) for s in strides(41)] == [6, 11, 21, 41]
    assert [side(31, s) for s in strides(31)] == [6, 16, 31]
    assert [side(101, s) for s in strides(101)] == [6, 26, 51, 101]
    for n in (11, 21, 31, 41, 51, 61, 81, 101):
        chain = strides(n)
        assert chain[-1] == 1 and all((n - 1) % s == 0 for s in chain)
        assert all(a % b == 0 for a, b in zip(chain, chain[1:]))
        grid = ProgressiveGrid(n, 2, "cpu")
        seen = torch.cat([grid.level_indices(k) for k in range(len(chain))])
        assert len(seen) == n * n and len(torch.unique(seen)) == n * n  # each point exactly once


def test_a_coarse_level_is_interpolated_exactly_on_its_lattice():
    grid = ProgressiveGrid(21, 2, "cpu")
    f = lambda idx: (idx // 21).float() * 0.5 + (idx % 21).float() ** 2 * 0.01  # noqa: E731
    idx = grid.level_indices(0)
    grid.write(idx, f(idx))
    grid.level = 1
    picture = grid.picture()
    assert picture.shape == (21, 21)
    assert torch.allclose(picture.view(-1)[idx], f(idx))
    assert torch.isfinite(picture).all()


def test_projection_recovers_plane_coordinates_and_pca_finds_the_path_plane():
    g = torch.Generator().manual_seed(0)
    centre = torch.randn(50, generator=g)
    dirs = torch.randn(2, 50, generator=g)
    coords = torch.tensor([[0.3, -0.2], [1.5, 0.25], [-0.7, 0.0]])
    torch.testing.assert_close(project(centre + coords @ dirs, centre, dirs), coords, atol=1e-5, rtol=1e-5)
    path = centre + torch.randn(12, 2, generator=g) @ dirs
    v, explained = pca_directions(path, centre)
    torch.testing.assert_close(v @ v.T, torch.eye(2), atol=1e-5, rtol=0)
    assert abs(float(explained.sum()) - 1.0) < 1e-4  # a path in a plane: two components explain it all
    back = centre + project(path, centre, v) @ v
    torch.testing.assert_close(back, path, atol=1e-4, rtol=1e-4)


def test_the_strategy_is_measured_on_the_first_call_and_every_point_is_still_right(torch_threads):
    torch_threads(2)
    torch.manual_seed(0)
    model = SmallCNN(1, 10, (8, 8))
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    ev = SurfaceEvaluator(model, nn.CrossEntropyLoss(), x, y)
    assert ev.strategy is None
    centre = ev.layout.flatten(model)
    dirs = random_directions(centre, ev.layout, 2, seed=2)
    coords = torch.rand(16, 2) * 2 - 1
    got = ev.plane_losses(centre, dirs, coords)  # points of every strategy and of the chosen one
    # a grid's points lie on a plane and the CNN's first layer is a convolution: three strategies
    assert set(ev.timings) == {"pointwise", "vmap", "first-layer"}
    assert ev.strategy == min(ev.timings, key=ev.timings.get)
    single = torch.stack([ev.loss(centre + c @ dirs) for c in coords])
    assert (got - single).abs().max() < 1e-5


@pytest.mark.parametrize("slow", ["pointwise", "vmap"])
def test_the_faster_strategy_wins(slow, torch_threads, monkeypatch):
    import time

    torch_threads(1)
    model = MLP(8, 3)
    ev = SurfaceEvaluator(model, nn.CrossEntropyLoss(), torch.randn(5, 8), torch.zeros(5, dtype=torch.long))
    name = "_run_pointwise" if slow == "pointwise" else "_run_vmap"
    run = getattr(ev, name)

    def slowed(start, end, *args):
        time.sleep(0.02 * (end - start))
        return run(start, end, *args)

    monkeypatch.setattr(ev, name, slowed)
    ev.losses(torch.randn(12, ev.layout.size))
    assert ev.strategy == ({"pointwise", "vmap"} - {slow}).pop()
    assert ev.timings[slow] > ev.timings[ev.strategy]


def test_a_model_vmap_cannot_batch_is_evaluated_point_by_point():
    class Recurrent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(4, 6, batch_first=True)
            self.head = nn.Linear(6, 3)

        def forward(self, x):
            return self.head(self.gru(x)[0][:, -1])

    torch.manual_seed(0)
    model = Recurrent()
    x, y = torch.randn(5, 7, 4), torch.randint(0, 3, (5,))
    ev = SurfaceEvaluator(model, nn.CrossEntropyLoss(), x, y)
    flats = ev.layout.flatten(model) + 0.01 * torch.randn(8, ev.layout.size)
    got = ev.losses(flats)
    assert ev.strategy == "pointwise" and ev.timings["vmap"] == float("inf")
    assert (got - torch.stack([ev.loss(f) for f in flats])).abs().max() < 1e-5
