"""Snapshots of a small model trained with the real probes, and a deep comparison of payloads."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
from torch import nn

from gpuviz_app.core.attached_run import build_context
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.probe_demand import ProbeDemand
from gpuviz_app.core.probe_host import ProbeHost
from gpuviz_app.core.probes import probe_factories
from gpuviz_app.core.snapshot import Snapshot

VIEWS = ("weights", "embedding", "landscape")


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def probed_snapshots(steps: int, probe_every: int = 1, views=VIEWS, samples: int = 64, device: str = "cpu"):
    """Yield one snapshot per training step; the probes recompute every `probe_every` steps
    (between those the payloads and versions stay as they were). On CUDA each snapshot carries
    the event recorded after its reductions, as the sources' do."""
    torch.manual_seed(0)
    x, y = torch.rand(samples, 3, 8, 8, device=device), torch.randint(0, 3, (samples,), device=device)
    model = SmallCNN().to(device)
    step = [0]
    context = build_context(model, (x, y), nn.CrossEntropyLoss(), "small", step_source=lambda: step[0])
    host = ProbeHost(probe_factories(set(views)), ProbeDemand(shown=views))
    host.start_run(context)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = MetricsHistory()
    try:
        for _ in range(steps):
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step[0] += 1
            history.append("train_loss", np.array([step[0]]), np.array([loss.item()]))
            context.hooks.run(context)
            if step[0] % probe_every == 0 or step[0] == 1:
                host.demand.force()
                host.settle(context, timeout=30)
                host.collect(context)
            event = None
            if device != "cpu":
                event = torch.cuda.Event()
                event.record()
            yield Snapshot(run_id=1, step=step[0], wall_time=time.time(), metrics=history,
                           latest={"train_loss": loss.item()}, parts=dict(host.parts),
                           versions=dict(host.versions), event=event, device=device, dataset="random",
                           model="small")
    finally:
        host.close()


def same(a, b, where="payload") -> None:
    """`b` (read back) holds exactly the values of `a` (offered): arrays as numpy, bit for bit."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and b.dtype == a.dtype and b.shape == a.shape, where
        assert a.tobytes() == b.tobytes(), where
    elif dataclasses.is_dataclass(a):
        assert type(b) is type(a), where
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(b) == list(a), where
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(b) is type(a) and len(b) == len(a), where
        for i, (u, v) in enumerate(zip(a, b)):
            same(u, v, f"{where}[{i}]")
    elif isinstance(a, float) and a != a:
        assert b != b, where
    else:
        assert b == a and type(b) is type(a), where


def expected_at(snapshots: list[Snapshot], step: int) -> Snapshot:
    return [s for s in snapshots if s.step <= step][-1]
