"""A plain loop with a custom loss: a robust (Huber-like) fit with an L1 weight penalty, watched by gpuviz.

The data has outliers, which a squared loss would chase; the loss is a plain Python function
of (outputs, targets), and the penalty is sent as its own scalar.

    gpuviz run examples/custom_loss.py --steps 200 --view landscape --screenshot x.png
"""

import argparse

import torch
from torch import nn

import gpuviz_app as gv


def robust_loss(outputs: torch.Tensor, targets: torch.Tensor, delta: float = 0.5) -> torch.Tensor:
    error = (outputs - targets).abs()
    return torch.where(error < delta, 0.5 * error**2 / delta, error - 0.5 * delta).mean()


def make_data(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 4, generator=generator) * 4 - 2
    y = (x @ torch.tensor([[1.5], [-2.0], [0.5], [0.0]])) + 0.05 * torch.randn(n, 1, generator=generator)
    outliers = torch.rand(n, generator=generator) < 0.05
    y[outliers] += 8 * torch.randn(int(outliers.sum()), 1, generator=generator)
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    x, y = (t.to(args.device) for t in make_data(2048, generator))
    model = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1)).to(args.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    viz = gv.attach(model, loss_fn=robust_loss, optimizer=opt, sample=(x[:512], y[:512]), name="custom-loss")
    try:
        for step in range(args.steps):
            idx = torch.randint(0, len(x), (64,), device=args.device)
            penalty = 1e-4 * sum(p.abs().sum() for p in model.parameters() if p.dim() > 1)
            fit = robust_loss(model(x[idx]), y[idx])
            loss = fit + penalty
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            viz.step(loss=loss, penalty=penalty)
    finally:
        viz.close()


if __name__ == "__main__":
    main()
