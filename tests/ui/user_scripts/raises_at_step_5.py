"""A user's script that attaches, trains five steps, then raises (window tests)."""

import torch
from torch import nn

import gpuviz_app as gv


def broken_loader(step: int) -> None:
    if step == 5:
        raise ValueError("broken on purpose at step 5")


model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 2))
x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
viz = gv.attach(model, loss_fn=nn.CrossEntropyLoss(), sample=(x, y), name="raises")
for step in range(1, 100):
    loss = nn.functional.cross_entropy(model(x), y)
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    viz.step(loss=loss)
    broken_loader(step)
