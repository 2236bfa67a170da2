"""The weights probe: what each layer learns, reduced on the training device.

A step hook copies every layer's weights and gradients into one row of a device buffer
(one `torch.cat` per step). When the buffer fills, or when the probe runs, the rows are
reduced in a batch: per layer and row the exact histogram of weights and of gradients
(power-of-two grids, `core.histogram`), value extremes, gradient norm, weight norm,
norm of the step's update and whether the gradient was all zero. Batches go into a
`ColumnRing`, so every step stays counted. The probe itself adds what the display
draws: matrices of linear layers, tiled conv filters, and the ring as float32 arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from gpuviz_app.core import histogram as H
from gpuviz_app.core.weight_images import FilterGrid, MatrixImage, filter_grid, matrix_image
from gpuviz_app.core.weight_ring import ColumnRing


@dataclass(frozen=True)
class Layer:
    index: int
    name: str  # module path in the model
    kind: str  # "linear" or "conv"
    shape: tuple[int, ...]
    weight: nn.Parameter = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        dims = "\u00d7".join(str(d) for d in self.shape)
        return f"{self.index + 1} {self.kind} {dims}"


def find_layers(model: nn.Module) -> list[Layer]:
    """Modules owning a weight of two or more dimensions (linear, conv), in model order."""
    layers = []
    for name, module in model.named_modules():
        w = getattr(module, "weight", None)
        if isinstance(w, nn.Parameter) and w.dim() >= 2:
            kind = "conv" if w.dim() > 2 else "linear"
            layers.append(Layer(len(layers), name, kind, tuple(w.shape), w))
    return layers


class StepRecorder:
    """The per-step hook: one row per step, reduced in batches into `ring`.

    Series s < L are layer s's weights, series L + s its gradients. The update of a
    step is the difference of consecutive rows (the previous batch's last row is kept).
    """

    def __init__(self, layers: list[Layer], device: torch.device, capacity: int = 512,
                 max_rows: int = 32, max_bytes: int = 16 << 20) -> None:
        self.params = [layer.weight for layer in layers]
        self.device = torch.device(device)
        sizes = [p.numel() for p in self.params]
        self.n_weights = n = sum(sizes)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        spans = list(zip(offsets[:-1], offsets[1:]))
        self.spans = spans + [(a + n, b + n) for a, b in spans]
        self.layers = len(layers)
        rows = max(1, min(max_rows, max_bytes // max(8 * n, 1)))
        self.rows = torch.empty(rows, 2 * n, device=self.device)
        with torch.no_grad():
            self.prev = torch.cat([p.detach().reshape(-1) for p in self.params]) if n else \
                torch.zeros(0, device=self.device)
        self._zeros: dict[int, torch.Tensor] = {}
        self.pending = 0
        self.pending_first = 0
        self.ring = ColumnRing(2 * self.layers, self.layers, self.device, capacity)
        self.latest = torch.zeros(4, self.layers, device=self.device)
        self.last_step = 0
        self.batches = 0

    def __call__(self, trainer: Any) -> None:
        if not self.layers:
            return
        if not self.pending:
            self.pending_first = trainer.step_count
        grads = [p.grad if p.grad is not None else self._zero(i) for i, p in enumerate(self.params)]
        torch.cat([p.reshape(-1) for p in self.params] + [g.reshape(-1) for g in grads],
                  out=self.rows[self.pending])
        self.pending += 1
        self.last_step = trainer.step_count
        if self.pending == len(self.rows):
            self.flush()

    def _zero(self, i: int) -> torch.Tensor:
        if i not in self._zeros:
            self._zeros[i] = torch.zeros_like(self.params[i], memory_format=torch.contiguous_format)
        return self._zeros[i]

    @torch.no_grad()
    def flush(self) -> None:
        """Reduce the pending rows into the ring (a fixed number of device ops per batch)."""
        k = self.pending
        if not k:
            return
        rows = self.rows[:k]
        n, nl, bins = self.n_weights, self.layers, self.ring.bins
        parts = [rows[:, a:b] for a, b in self.spans]
        lo, hi = (torch.stack(v, dim=1) for v in zip(*(torch.aminmax(x, dim=1) for x in parts)))
        sanitise = self.device.type != "cpu" or not bool(torch.isfinite(lo).all() & torch.isfinite(hi).all())
        if sanitise:  # extremes of the finite values only
            masks = [torch.isfinite(x) for x in parts]
            lo = torch.stack([torch.where(m, x, float("inf")).amin(1) for m, x in zip(masks, parts)], dim=1)
            hi = torch.stack([torch.where(m, x, float("-inf")).amax(1) for m, x in zip(masks, parts)], dim=1)
        lo, hi = lo.double(), hi.double()
        e, k0 = H.fit(lo.amin(0), hi.amax(0), bins=bins)
        scale = torch.exp2(-e.double()).float()
        offset = (torch.arange(k, device=self.device)[:, None] * bins - k0[None, :]).float()
        hist = torch.empty(k, len(parts), bins, dtype=torch.int64, device=self.device)
        for s, x in enumerate(parts):
            t = torch.mul(x, scale[s])
            t.floor_()
            t.add_(offset[:, s : s + 1])
            hist[:, s] = H.count(t, k * bins, sanitise).view(k, bins)
        sizes = torch.tensor([b - a for a, b in self.spans], device=self.device)
        nonfinite = sizes - hist.sum(-1)
        weights, grads = parts[:nl], parts[nl:]
        delta = torch.diff(rows[:, :n], dim=0, prepend=self.prev[None])
        gnorm = torch.stack([torch.linalg.vector_norm(g, dim=1) for g in grads], dim=1)
        wnorm = torch.stack([torch.linalg.vector_norm(w, dim=1) for w in weights], dim=1)
        dnorm = torch.stack([torch.linalg.vector_norm(delta[:, a:b], dim=1) for a, b in self.spans[:nl]], dim=1)
        ratio = dnorm / wnorm.clamp_min(torch.finfo(torch.float32).tiny)
        dead = ((lo[:, nl:] == 0) & (hi[:, nl:] == 0)).float()
        health = torch.stack([gnorm, ratio, wnorm, dead], dim=1)  # (k, 4, L)
        self.prev.copy_(rows[-1, :n])
        self.latest = health[-1].clone()
        self.ring.add(self.pending_first, hist, e, k0, lo, hi, nonfinite, health.double())
        self.pending = 0
        self.batches += 1


@dataclass
class WeightsPayload:
    """What the weights view reads; tensors are fresh, on the training device.

    `counts[s, c]` is column c's histogram of series s on the grid `grid[s, c]` =
    (first edge, bin width, largest count, total count); `extent[s, c]` the values'
    (min, max). Series s < L are weights, L + s gradients. `health[l, c]` holds the
    column means of (gradient norm, update-to-weight ratio, weight norm), `dead_steps[l, c]`
    how many of its steps had an all-zero gradient; `latest` (4, L) the same four for the
    last step (dead as 0/1). `column_steps` (n, 2) the first and last step of each column.
    """

    step: int
    layers: list[dict]
    column_steps: np.ndarray
    stride: int
    counts: torch.Tensor
    grid: torch.Tensor
    extent: torch.Tensor
    health: torch.Tensor
    dead_steps: torch.Tensor
    latest: torch.Tensor
    matrices: dict[int, MatrixImage]
    filters: dict[int, FilterGrid]

    @property
    def columns(self) -> int:
        return len(self.column_steps)


class WeightsProbe:
    name = "weights"
    budget = 0.08

    def __init__(self, trainer: Any, capacity: int = 512) -> None:
        self.layers = find_layers(trainer.model)
        self.recorder = StepRecorder(self.layers, trainer.device, capacity)
        self.remove_hook = trainer.add_step_hook(self.recorder)
        convs = [layer for layer in self.layers if layer.kind == "conv"]
        self._colour = convs[0].index if convs and convs[0].shape[1] == 3 else None

    @torch.no_grad()
    def __call__(self, trainer: Any) -> WeightsPayload:
        rec = self.recorder
        rec.flush()
        ring = rec.ring
        n, nl = ring.n, len(self.layers)
        counts = ring.counts[:n]
        width = torch.exp2(ring.e[:n].double())
        grid = torch.stack([ring.k0[:n] * width, width, counts.amax(-1).double(), counts.sum(-1).double()], dim=-1)
        steps = torch.as_tensor(ring.steps_per_column(), device=ring.device, dtype=torch.float64)
        sums = ring.health[:n]  # (n, 4, L)
        means = sums[:, :3] / steps.clamp_min(1)[:, None, None]
        return WeightsPayload(
            step=trainer.step_count,
            layers=[{"name": l.name, "kind": l.kind, "shape": l.shape, "label": l.label} for l in self.layers],
            column_steps=ring.column_steps(),
            stride=ring.stride,
            counts=counts.permute(1, 0, 2).float().contiguous(),
            grid=grid.permute(1, 0, 2).float().contiguous(),
            extent=torch.stack([ring.lo[:n], ring.hi[:n]], dim=-1).permute(1, 0, 2).float().contiguous(),
            health=means.permute(2, 0, 1).float().contiguous(),
            dead_steps=sums[:, 3].T.float().contiguous(),
            latest=rec.latest.clone() if nl else torch.zeros(4, 0),
            matrices={l.index: matrix_image(l.weight) for l in self.layers if l.kind == "linear"},
            filters={l.index: filter_grid(l.weight, l.index == self._colour) for l in self.layers
                     if l.kind == "conv"},
        )


def weights_probe(trainer: Any) -> WeightsProbe:
    return WeightsProbe(trainer)
