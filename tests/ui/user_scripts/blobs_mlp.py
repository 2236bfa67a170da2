"""A user's script for the window tests: an MLP on four Gaussian blobs in 6-D, watched by gpuviz.

    python blobs_mlp.py [--steps N] [--marker FILE]

`--marker` is written before anything else runs, so a test can tell whether the file ran at all.
Plain gradient descent by hand: `torch.optim`'s first step imports torch._dynamo, seconds of CPU
a test need not spend.
"""

import argparse
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=1_000_000)
parser.add_argument("--marker", default=None)
args = parser.parse_args()
if args.marker:
    with open(args.marker, "w") as f:
        f.write("ran\n")

import torch  # noqa: E402
from torch import nn  # noqa: E402

import gpuviz_app as gv  # noqa: E402

torch.manual_seed(1)
centres = torch.randn(4, 6) * 3


def blobs(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.randint(0, 4, (n,))
    return centres[y] + torch.randn(n, 6), y


x_train, y_train = blobs(2048)
model = nn.Sequential(nn.Linear(6, 40), nn.Tanh(), nn.Linear(40, 24), nn.Tanh(), nn.Linear(24, 4))
loss_fn = nn.CrossEntropyLoss()
with gv.attach(model, loss_fn=loss_fn, sample=blobs(300), name="blobs-mlp") as viz:
    for step in range(args.steps):
        idx = torch.randint(0, len(x_train), (64,))
        loss = loss_fn(model(x_train[idx]), y_train[idx])
        model.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.05 * p.grad
        viz.step(loss=loss)
print(f"blobs_mlp: {viz.step_count} steps", file=sys.stderr)
