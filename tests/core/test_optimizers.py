import pytest
import torch
from torch import nn

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.optimizers import make_optimizer
from tests.fresh_python import run_python


def model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3), nn.Linear(3, 3))


def reference(name: str, params, config: TrainConfig) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay or 1e-2)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_each_optimizer_follows_torch_optim_bit_for_bit(name, weight_decay):
    """Same trajectory as torch.optim's, including a frozen layer, a layer without a gradient
    on some steps, and a learning-rate change midway."""
    config = TrainConfig(optimizer=name, lr=0.05 if name == "sgd" else 1e-2, weight_decay=weight_decay)
    ours_model, ref_model = model(0), model(0)
    ours_model[4].bias.requires_grad_(False)
    ref_model[4].bias.requires_grad_(False)
    ours = make_optimizer(name, ours_model.parameters(), config)
    ref = reference(name, ref_model.parameters(), config)
    gen = torch.Generator().manual_seed(1)
    for step in range(12):
        x = torch.randn(8, 1, 8, 8, generator=gen)
        y = torch.randint(0, 3, (8,), generator=gen)
        if step == 6:
            ours.lr = 0.5 * config.lr
            for group in ref.param_groups:
                group["lr"] = 0.5 * config.lr
        for m, opt in ((ours_model, ours), (ref_model, ref)):
            opt.zero_grad(set_to_none=True)
            out = m[:4](x) if step % 4 == 3 else m(x)  # every 4th step the last layer gets no gradient
            nn.functional.cross_entropy(out, y).backward()
            opt.step()
        for a, b in zip(ours_model.parameters(), ref_model.parameters()):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_training_never_imports_torch_dynamo():
    """torch.optim's first call imports torch._dynamo (~0.8 s before the first step)."""
    code = (
        "import sys\n"
        "from gpuviz_app.core.config import TrainConfig\n"
        "from gpuviz_app.core.trainer import Trainer\n"
        "from gpuviz_app.data.builtin import digits\n"
        "from gpuviz_app.data.device import DeviceDataset\n"
        "for name in ('sgd', 'adam', 'adamw'):\n"
        "    t = Trainer(DeviceDataset(digits(), 'cpu'), TrainConfig(optimizer=name))\n"
        "    t.train(3)\n"
        "    t.set_optimizer('sgd')\n"
        "    t.train(1)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
