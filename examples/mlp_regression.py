"""An MLP fitting a smooth function of 8 inputs (synthetic data, MSE loss), watched by gpuviz.

    gpuviz run examples/mlp_regression.py --steps 500     # headless: add --screenshot x.png
    python examples/mlp_regression.py                     # runs without gpuviz too
"""

import argparse

import torch
from torch import nn

import gpuviz_app as gv


def make_data(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 8, generator=generator)
    y = torch.sin(x[:, :1] * 2) + 0.5 * x[:, 1:2] * x[:, 2:3] + 0.1 * torch.randn(n, 1, generator=generator)
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    x_train, y_train = make_data(4096, generator)
    x_train, y_train = x_train.to(args.device), y_train.to(args.device)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)).to(args.device)
    loss_fn = nn.MSELoss()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with gv.attach(model, loss_fn=loss_fn, optimizer=opt, sample=make_data(512, generator), name="mlp-regression") as viz:
        for step in range(args.steps):
            idx = torch.randint(0, len(x_train), (128,), device=args.device)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            viz.step(loss=loss, lr=opt.param_groups[0]["lr"])


if __name__ == "__main__":
    main()
