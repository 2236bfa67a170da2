"""The weights probe: what each layer learns, reduced on the training device.

A step hook (`core.weight_recorder`) records, for every training step and layer, the
exact histogram of the weights and of the gradients (power-of-two grids,
`core.histogram`), the gradient norm, the weight norm, the norm of the step's update
and whether the gradient was all zero, into a `ColumnRing` that keeps every step in
fixed memory. The probe, when the session runs it, adds what the display draws:
matrices of linear layers, tiled conv filters, and the ring as float32 arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from gpuviz_app.core.weight_images import FilterGrid, MatrixImage, filter_grid, matrix_image
from gpuviz_app.core.weight_recorder import make_recorder
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


@dataclass
class WeightsPayload:
    """What the weights view reads; tensors are fresh, on the training device.

    `counts[s, c]` is column c's histogram of series s on the grid `grid[s, c]` =
    (first edge, bin width, 1 / largest count (0 if empty), total count) — the layout
    of the density texture's column info; `extent[s, c]` bounds of its values (min, max). Series s < L are weights, L + s gradients. `health[l, c]` holds the
    column means of (gradient norm, update-to-weight ratio, weight norm), `dead_steps[l, c]`
    how many of its steps had an all-zero gradient; `latest` (4, L) the same four for the
    last step (dead as 0/1). `column_steps` (n, 2) the first and last step each column spans,
    `recorded` (n,) how many of them it holds (0 in a gap, where health is NaN).
    """

    step: int
    layers: list[dict]
    column_steps: np.ndarray
    recorded: np.ndarray
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

    def __init__(self, trainer: Any, capacity: int = 512, recorder: str = "auto") -> None:
        self.layers = find_layers(trainer.model)
        self.recorder = None
        self.ring = ColumnRing(0, 0, trainer.device, capacity)
        self.latest = torch.zeros(4, 0, device=trainer.device)
        self._add_hook = trainer.add_step_hook
        self._remove_hook: Any = None
        self.shown = True
        self.record_hidden = False
        if self.layers:  # a model without weight matrices records nothing
            self.recorder = make_recorder([layer.weight for layer in self.layers], trainer.device, capacity,
                                          recorder)
            self.ring = self.recorder.ring
            self._remove_hook = self._add_hook(self.recorder)
        convs = [layer for layer in self.layers if layer.kind == "conv"]
        self._colour = convs[0].index if convs and convs[0].shape[1] == 3 else None

    # -- recording: every step while the view is shown (or always, if asked) --------------------
    @property
    def recording(self) -> bool:
        return self._remove_hook is not None

    def set_shown(self, shown: bool) -> None:
        """The session says whether the view is on screen. On a CPU the recorder costs ~15% of
        a step of the default CNN, too much to pay for a view nobody looks at, so by default
        steps taken while it is hidden are not recorded: the ring keeps a gap for them."""
        self.shown = bool(shown)
        self._follow()

    def configure(self, options: dict) -> None:
        if "record_hidden" in options:
            self.record_hidden = bool(options["record_hidden"])
            self._follow()

    def _follow(self) -> None:
        want = self.recorder is not None and (self.shown or self.record_hidden)
        if want and not self.recording:
            self.recorder.resume()
            self._remove_hook = self._add_hook(self.recorder)
        elif not want and self.recording:
            self.recorder.flush()
            self._remove_hook()
            self._remove_hook = None

    def close(self) -> None:
        if self.recording:
            self._remove_hook()
            self._remove_hook = None

    @torch.no_grad()
    def __call__(self, trainer: Any) -> WeightsPayload:
        if self.recorder is not None:
            self.recorder.flush()
            self.latest = self.recorder.latest
        ring = self.ring
        n, nl = ring.n, len(self.layers)
        counts = ring.counts[:n]
        width = torch.exp2(ring.e[:n].double())
        peak = counts.amax(-1).double()
        inv_peak = torch.where(peak > 0, 1.0 / peak.clamp_min(1), 0.0)
        grid = torch.stack([ring.k0[:n] * width, width, inv_peak, counts.sum(-1).double()], dim=-1)
        recorded = ring.recorded_per_column()
        steps = torch.as_tensor(recorded, device=ring.device, dtype=torch.float64)
        sums = ring.health[:n]  # (n, 4, L)
        means = torch.where(steps[:, None, None] > 0, sums[:, :3] / steps.clamp_min(1)[:, None, None], float("nan"))
        return WeightsPayload(
            step=trainer.step_count,
            layers=[{"name": l.name, "kind": l.kind, "shape": l.shape, "label": l.label} for l in self.layers],
            column_steps=ring.column_steps(),
            recorded=recorded,
            stride=ring.stride,
            counts=counts.permute(1, 0, 2).float().contiguous(),
            grid=grid.permute(1, 0, 2).float().contiguous(),
            extent=torch.stack([ring.lo[:n], ring.hi[:n]], dim=-1).permute(1, 0, 2).float().contiguous(),
            health=means.permute(2, 0, 1).float().contiguous(),
            dead_steps=sums[:, 3].T.float().contiguous(),
            latest=self.latest.clone(),
            matrices={l.index: matrix_image(l.weight) for l in self.layers if l.kind == "linear"},
            filters={l.index: filter_grid(l.weight, l.index == self._colour) for l in self.layers
                     if l.kind == "conv"},
        )


def weights_probe(trainer: Any) -> WeightsProbe:
    return WeightsProbe(trainer)
