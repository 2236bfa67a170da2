"""The first-layer strategy: a plane's grid with the first layer's output combined from three
precomputed ones gives the losses the model itself gives at those weights."""

import pytest
import torch
from torch import nn

from gpuviz_app.core.models import MLP, SmallCNN
from gpuviz_app.core.probes.landscape.evaluate import SurfaceEvaluator
from gpuviz_app.core.probes.landscape.first_layer import FirstLayerPlane, first_linear_layer
from gpuviz_app.core.probes.landscape.params import random_directions


class TinyTransformer(nn.Module):
    """Token embedding first, a learned position, one encoder layer, and a head tied to the embedding."""

    def __init__(self, vocab: int = 20, length: int = 6, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.position = nn.Parameter(0.1 * torch.randn(length, dim))
        self.encoder = nn.TransformerEncoderLayer(dim, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight  # tied: the embedding's weights are used again at the end

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens) + self.position).mean(dim=1))


class NormFirst(nn.Sequential):
    """Its first layer normalises the input: not linear in its parameters."""

    def __init__(self) -> None:
        super().__init__(nn.LayerNorm(8), nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))


class ScaledInput(nn.Module):
    """The input is transformed before the first Linear sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((8,), 1.5))
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x * self.scale)


class Twice(nn.Module):
    """The first Linear is applied to the input and again to its own output."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc(torch.relu(self.fc(x))))


class MyLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) ** 2


def case(name: str):
    torch.manual_seed(0)
    if name == "mlp":
        return MLP(8, 3), torch.randn(40, 8), torch.randint(0, 3, (40,)), "net.1"  # after a Flatten
    if name == "mlp-inplace-relu":
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(inplace=True), nn.Linear(16, 3))
        return model, torch.randn(40, 8), torch.randint(0, 3, (40,)), "0"
    if name == "cnn":
        return SmallCNN(1, 10, (8, 8)), torch.randn(24, 1, 8, 8), torch.randint(0, 10, (24,)), "features.0"
    if name == "transformer":
        return TinyTransformer(), torch.randint(0, 20, (24, 6)), torch.randint(0, 20, (24,)), "embed"
    model = {"norm-first": NormFirst, "scaled-input": ScaledInput, "twice": Twice,
             "subclass": lambda: nn.Sequential(MyLinear(8, 3))}[name]()
    return model, torch.randn(40, 8), torch.randint(0, 3, (40,)), None


def reference(model: nn.Module, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss of the model itself with its parameters set to `flat`, one plain forward."""
    import copy

    probe = copy.deepcopy(model).eval()
    torch.nn.utils.vector_to_parameters(flat, probe.parameters())
    with torch.no_grad():
        return nn.functional.cross_entropy(probe(x), y)


def grid_coords(count: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(count, 2, generator=g) * 2 - 1


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def test_the_first_layer_applied_to_the_raw_input_is_found_and_others_are_not():
    for name in ("mlp", "mlp-inplace-relu", "cnn", "transformer", "norm-first", "scaled-input", "twice", "subclass"):
        model, x, _, expected = case(name)
        found = first_linear_layer(model, x)
        assert (found[0] if found else None) == expected, name
    model, x, _, _ = case("mlp")
    model.net[1].register_forward_hook(lambda m, i, o: o * 2)  # a hook may change the output
    assert first_linear_layer(model, x) is None
    embedding = nn.Sequential(nn.Embedding(20, 4, max_norm=1.0), nn.Flatten(), nn.Linear(24, 3))
    assert first_linear_layer(embedding, torch.randint(0, 20, (5, 6))) is None  # renormalises in place


@pytest.mark.parametrize("name", ["mlp", "mlp-inplace-relu", "cnn", "transformer"])
@pytest.mark.parametrize("threads", [1, 2])
def test_first_layer_losses_equal_the_model_s_own_at_every_point(name, threads, torch_threads, monkeypatch):
    torch_threads(threads)  # points shared over this many workers
    combined = []
    combine = FirstLayerPlane.combine
    monkeypatch.setattr(FirstLayerPlane, "combine", lambda self, *a: combined.append(1) or combine(self, *a))
    model, x, y, _ = case(name)
    ev = SurfaceEvaluator(model, nn.CrossEntropyLoss(), x, y, strategy="first-layer")
    centre = ev.layout.flatten(model)
    dirs = random_directions(centre, ev.layout, 2, seed=3, include_bias=True)
    coords = grid_coords(12)
    got = torch.cat([ev.plane_losses(centre, dirs, coords[a : a + 5]) for a in range(0, 12, 5)])
    assert ev._first.name == case(name)[3] and len(combined) == 12  # each point's first layer was combined
    want = torch.stack([reference(model, centre + c @ dirs, x, y) for c in coords])
    torch.testing.assert_close(got, want, rtol=2e-6, atol=2e-6)
    # a new centre (the grid re-centred): the first layer's outputs are computed again
    moved = centre + 0.3 * dirs[0]
    got = ev.plane_losses(moved, dirs, coords[:4])
    torch.testing.assert_close(got, torch.stack([reference(model, moved + c @ dirs, x, y) for c in coords[:4]]),
                               rtol=2e-6, atol=2e-6)


def test_a_slice_along_one_direction_and_path_points_off_the_plane():
    model, x, y, _ = case("cnn")
    ev = SurfaceEvaluator(model, nn.CrossEntropyLoss(), x, y, strategy="first-layer")
    centre = ev.layout.flatten(model)
    one = random_directions(centre, ev.layout, 1, seed=4)
    t = torch.linspace(-1, 1, 5).unsqueeze(1)
    got = ev.plane_losses(centre, one, t)
    torch.testing.assert_close(got, torch.stack([reference(model, centre + c @ one, x, y) for c in t]),
                               rtol=2e-6, atol=2e-6)
    flats = centre + 0.05 * torch.randn(3, ev.layout.size)  # any weights: evaluated plainly
    torch.testing.assert_close(ev.losses(flats), torch.stack([reference(model, f, x, y) for f in flats]),
                               rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", ["norm-first", "scaled-input", "twice", "subclass"])
def test_a_model_without_such_a_first_layer_is_evaluated_plainly(name, torch_threads):
    torch_threads(2)
    model, x, y, _ = case(name)
    ev = SurfaceEvaluator(model, nn.CrossEntropyLoss(), x, y)
    centre = ev.layout.flatten(model)
    dirs = random_directions(centre, ev.layout, 2, seed=5, include_bias=True)
    coords = grid_coords(16)
    got = ev.plane_losses(centre, dirs, coords)  # enough points to measure the strategies on
    assert ev._first is None and set(ev.timings) == {"pointwise", "vmap"}
    want = torch.stack([reference(model, centre + c @ dirs, x, y) for c in coords])
    torch.testing.assert_close(got, want, rtol=2e-6, atol=2e-6)


def test_the_measured_choice_includes_the_first_layer_and_every_point_is_right(torch_threads):
    torch_threads(2)
    model, x, y, _ = case("transformer")
    ev = SurfaceEvaluator(model, nn.CrossEntropyLoss(), x, y)
    centre = ev.layout.flatten(model)
    dirs = random_directions(centre, ev.layout, 2, seed=6)
    coords = grid_coords(20)
    got = ev.plane_losses(centre, dirs, coords)
    assert set(ev.timings) == {"pointwise", "vmap", "first-layer"}
    assert ev.strategy == min(ev.timings, key=ev.timings.get)
    want = torch.stack([reference(model, centre + c @ dirs, x, y) for c in coords])
    torch.testing.assert_close(got, want, rtol=2e-6, atol=2e-6)
