"""Batch norms folded into their convolutions, and the image layout measured: the surface's
losses stay those of the model itself at every point, and only what may be folded is."""

import copy
import threading

import pytest
import torch
from torch import nn

from gpuviz_app.core.probes.landscape.evaluate import SurfaceEvaluator
from gpuviz_app.core.probes.landscape.folding import fold_batch_norms, foldable_pairs

class Block(nn.Module):
    """A residual block: conv -> bn inside a custom module, the sum after the second pair."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class Net(nn.Module):
    """Three foldable pairs, one conv whose output is used twice (not foldable), and a
    BatchNorm1d after a Linear (never folded)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(6)
        self.block = Block(6)
        self.shared = nn.Conv2d(6, 6, 1)
        self.shared_bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 5)
        self.fc_bn = nn.BatchNorm1d(5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.block(torch.relu(self.stem_bn(self.stem(x))))
        s = self.shared(h)
        h = self.shared_bn(s) + s  # the conv's output has a second user
        return self.fc_bn(self.fc(h.mean(dim=(2, 3))))


def trained_stats(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Running statistics and affine parameters away from their defaults, then eval mode."""
    torch.manual_seed(1)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x + 0.3 * torch.randn_like(x))
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model.eval()


def folded_copy(model: nn.Module, x: torch.Tensor, keep: str | None = None) -> tuple[nn.Module, int]:
    private = copy.deepcopy(model)
    return private, len(fold_batch_norms(private, x, keep=keep))


def folded_convolutions(module: nn.Module) -> set[str]:
    return {name for name, m in module.named_modules() if "forward" in m.__dict__ and isinstance(m, nn.Conv2d)}


def test_each_convolution_and_batch_norm_pair_is_folded_and_gives_the_same_output():
    torch.manual_seed(0)
    x = torch.randn(16, 3, 8, 8)
    model = trained_stats(Net(), x)
    # not `shared` (its output has a second user), not the Linear's norm
    assert foldable_pairs(model, x) == [("stem", "stem_bn"), ("block.conv1", "block.bn1"), ("block.conv2", "block.bn2")]
    folded, count = folded_copy(model, x)
    assert count == 3 and folded_convolutions(folded) == {"stem", "block.conv1", "block.conv2"}
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
        # the folded forward reads the module's parameters and statistics at every call
        for m in (model, folded):
            m.block.conv2.weight.mul_(1.7)
            m.block.bn1.weight.mul_(-0.6)
            m.stem_bn.running_var.mul_(3.0)
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
    assert folded_convolutions(model) == set()  # the original is never touched


class ReturnsBoth(nn.Module):
    """The convolution's output is returned as well as normalised."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(x)
        return self.bn(h), h


class TwoUsers(nn.Module):
    """The convolution's output goes on to another convolution as well as to the norm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.side = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return self.bn(h) + self.side(h)


def test_what_may_not_be_folded_is_not():
    torch.manual_seed(0)
    x = torch.randn(16, 3, 8, 8)
    model = trained_stats(Net(), x)
    assert [conv for conv, _ in foldable_pairs(model, x, keep="stem")] == ["block.conv1", "block.conv2"]
    for other in (ReturnsBoth(), TwoUsers(), nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())):
        assert foldable_pairs(trained_stats(other, x), x) == []
    assert foldable_pairs(Net(), x) == []  # training mode: batch statistics, no fixed affine map
    hooked = trained_stats(Net(), x)
    hooked.stem_bn.register_forward_hook(lambda m, args, out: out * 2)
    assert ("stem", "stem_bn") not in foldable_pairs(hooked, x)


def test_folding_in_one_thread_leaves_another_thread_s_forwards_alone():
    """What watches the forward is local to its module and thread: a forward that another
    thread runs meanwhile is neither watched nor changed (a process-wide trace intercepted it)."""
    torch.manual_seed(0)
    x = torch.randn(16, 3, 8, 8)
    other = trained_stats(Net(), x)
    with torch.no_grad():
        expected = other(x)
    results: list = []

    def elsewhere() -> None:
        try:
            with torch.no_grad():
                results.append(other(x))
        except Exception as exc:  # noqa: BLE001 - checked below
            results.append(exc)

    class Meanwhile(nn.Module):
        """Runs the other thread's forward to its end while this forward is watched."""

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            thread = threading.Thread(target=elsewhere)
            thread.start()
            thread.join()
            return h

    model = trained_stats(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), Meanwhile()), x)
    results.clear()  # (forwards of the set-up)
    folded, count = folded_copy(model, x)
    assert count == 1
    assert len(results) == 3  # while watched, then the plain and the folded check
    for got in results:
        assert isinstance(got, torch.Tensor)
        torch.testing.assert_close(got, expected)
    assert folded_convolutions(other) == set()


@pytest.mark.parametrize("strategy", ["pointwise", "first-layer", None])
def test_the_surface_of_a_batch_norm_net_equals_the_model_s_own_losses(strategy):
    torch.manual_seed(0)
    x, y = torch.randn(24, 3, 8, 8), torch.randint(0, 5, (24,))
    model = trained_stats(Net(), x)
    evaluator = SurfaceEvaluator(model, nn.CrossEntropyLoss(), x, y, strategy=strategy)
    centre = evaluator.layout.flatten(model)
    directions = 0.05 * torch.randn(2, centre.numel())
    coords = torch.rand(40, 2) * 2 - 1
    got = evaluator.plane_losses(centre, directions, coords)
    for point, loss in zip(coords, got):  # the model itself, its weights set to each point
        reference = _with_weights(model, centre + point @ directions)
        with torch.no_grad():
            assert loss.item() == pytest.approx(nn.CrossEntropyLoss()(reference(x), y).item(), rel=1e-5, abs=1e-6)
    assert evaluator.folded_norms == 2
    for replica in evaluator._replicas:  # the first layer is never folded
        assert folded_convolutions(replica.module) == {"block.conv1", "block.conv2"}


def _with_weights(model: nn.Module, flat: torch.Tensor) -> nn.Module:
    copy_ = copy.deepcopy(model)
    offset = 0
    with torch.no_grad():
        for p in copy_.parameters():
            p.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
    return copy_


def test_the_image_layout_is_measured_and_the_faster_one_is_fed():
    torch.manual_seed(0)
    x, y = torch.randn(24, 3, 8, 8), torch.randint(0, 5, (24,))
    model = trained_stats(Net(), x)
    evaluator = SurfaceEvaluator(model, nn.CrossEntropyLoss(), x, y, strategy="pointwise")
    centre = evaluator.layout.flatten(model)
    evaluator.plane_losses(centre, 0.05 * torch.randn(2, centre.numel()), torch.rand(8, 2))
    assert set(evaluator.layout_timings) == {"channels-last", "contiguous"}
    chosen = evaluator.image_layout
    assert evaluator.layout_timings[chosen] == min(evaluator.layout_timings.values())
    channels_last = chosen == "channels-last"
    for replica in evaluator._replicas:
        assert replica.x.is_contiguous(memory_format=torch.channels_last) == channels_last
        assert replica.x.is_contiguous() == (not channels_last)
    flat = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    assert evaluator.losses(flat.unsqueeze(0))[0].item() == pytest.approx(evaluator.loss(flat).item(), rel=1e-5)


def test_inputs_that_are_not_images_are_not_measured_for_layout():
    x, y = torch.randn(24, 8), torch.randint(0, 3, (24,))
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3)).eval()
    evaluator = SurfaceEvaluator(model, nn.CrossEntropyLoss(), x, y, strategy="pointwise")
    flat = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    evaluator.losses(flat.repeat(4, 1))
    assert evaluator.layout_timings == {} and evaluator.image_layout is None


class RefusesOnce(nn.Module):
    """A forward that fails the first time it is called (as one that refuses a torch function mode would)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.refuse = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.refuse:
            self.refuse = False
            raise RuntimeError("not now")
        return self.bn(self.conv(x))


def test_a_forward_that_fails_while_watched_or_a_fold_that_differs_leaves_the_module_as_it_was(monkeypatch):
    torch.manual_seed(0)
    x = torch.randn(8, 3, 8, 8)
    model = RefusesOnce().eval()
    assert fold_batch_norms(model, x) == [] and folded_convolutions(model) == set()
    model = trained_stats(Net(), x)
    from gpuviz_app.core.probes.landscape import folding

    wrong = folding._folded_conv
    monkeypatch.setattr(folding, "_folded_conv", lambda conv, norm: lambda h: 2 * wrong(conv, norm)(h))
    private = copy.deepcopy(model)
    assert fold_batch_norms(private, x) == []
    assert not any("forward" in m.__dict__ for m in private.modules())
    with torch.no_grad():
        torch.testing.assert_close(private(x), model(x))
