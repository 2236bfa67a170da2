"""The weights probe: what each layer learns, reduced on the training device, for any model.

A step hook (a `WeightTracker`) tracks, for every training step and layer, the exact
histogram of the weights and of the gradients (power-of-two grids, `histogram`), the
gradient norm, the weight norm, the norm of the step's update and whether the gradient
was all zero, into `HistogramColumns` that keep every step in fixed memory. The probe,
when the session runs it, adds what the display draws: matrices of linear layers, tiled
conv filters, and the columns as float32 arrays. Layers are the model's modules that own
a weight of two or more dimensions, whatever the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import torch
from torch import nn

from gpuviz_app.core.probes import Probe
from gpuviz_app.core.probes.weights.batch_tracker import BatchTracker
from gpuviz_app.core.probes.weights.bursts import BurstTracking
from gpuviz_app.core.probes.weights.columns import HistogramColumns
from gpuviz_app.core.probes.weights.images import filter_grid, matrix_image
from gpuviz_app.core.probes.weights.payload import MatrixImage, WeightsPayload
from gpuviz_app.core.probes.weights.step_tracker import StepTracker
from gpuviz_app.core.probes.weights.tracker import WeightTracker
from gpuviz_app.core.run_context import RunContext


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


def find_layers(model: nn.Module, patterns: tuple[str, ...] = ()) -> list[Layer]:
    """Parameters of two or more dimensions (linear and conv weights, embeddings, a recurrent
    layer's matrices), in model order, each once. A module's `weight` is named by the
    module's path, any other matrix by its full parameter name; with glob `patterns`, only
    the names matching one of them."""
    layers: list[Layer] = []
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        for pname, w in module.named_parameters(recurse=False):
            if w.dim() < 2 or id(w) in seen:
                continue
            seen.add(id(w))
            name = module_name if pname == "weight" else ".".join(filter(None, (module_name, pname)))
            if patterns and not any(fnmatchcase(name, p) for p in patterns):
                continue
            kind = "conv" if w.dim() > 2 else "linear"
            layers.append(Layer(len(layers), name, kind, tuple(w.shape), w))
    return layers


def make_tracker(params: list[nn.Parameter], device: torch.device, capacity: int = 512,
                 kind: str = "auto", hook_thread: bool = False) -> WeightTracker:
    """`StepTracker` on the CPU, `BatchTracker` elsewhere (or as `kind` says: "step", "batch").
    `hook_thread`: a CPU tracker bins in its step hook, never on a worker thread (whose time
    the hook's caller could not account for)."""
    if kind == "auto":
        kind = "step" if torch.device(device).type == "cpu" else "batch"
    if kind == "step":
        return StepTracker(params, device, capacity, background=False if hook_thread else None)
    return BatchTracker(params, device, capacity)


class WeightsProbe(Probe):
    name = "weights"
    budget = 0.08

    def __init__(self, context: RunContext, capacity: int = 512, tracker: str = "auto") -> None:
        self.layers = find_layers(context.model, context.layers)
        self.tracker: WeightTracker | None = None
        self.columns = HistogramColumns(0, 0, context.device, capacity)
        self.latest = torch.zeros(4, 0, device=context.device)
        self._range_max: dict[int, torch.Tensor] = {}  # layer index -> largest |w| pictured so far
        self._add_hook = context.add_step_hook
        self._remove_hook: Any = None
        self.bursts: BurstTracking | None = None
        self.shown = True
        self.track_hidden = False
        if self.layers:  # a model without weight matrices tracks nothing
            scaled = context.budget_scale < 1.0  # every step's tracking would cost more than the run affords
            self.tracker = make_tracker([layer.weight for layer in self.layers], context.device, capacity, tracker,
                                        hook_thread=scaled)
            self.columns = self.tracker.columns
            if scaled:
                self.bursts = BurstTracking(self.tracker, self.budget * context.budget_scale)
            self._remove_hook = self._add_hook(self._step_hook)
        convs = [layer for layer in self.layers if layer.kind == "conv"]
        self._colour = convs[0].index if convs and convs[0].shape[1] == 3 else None

    # -- tracking: every step while the view is shown (or always, if asked) ----------------------
    @property
    def _step_hook(self) -> Any:
        return self.bursts if self.bursts is not None else self.tracker

    @property
    def tracking(self) -> bool:
        return self._remove_hook is not None

    def set_shown(self, shown: bool) -> None:
        """The session says whether the view is on screen. On a CPU the tracker costs a sizeable
        share of a step of a small model, too much to pay for a view nobody looks at, so by
        default steps taken while it is hidden are not tracked: the columns keep a gap for them."""
        self.shown = bool(shown)
        self._follow()

    def configure(self, options: dict) -> None:
        if "track_hidden" in options:
            self.track_hidden = bool(options["track_hidden"])
            self._follow()

    def _follow(self) -> None:
        want = self.tracker is not None and (self.shown or self.track_hidden)
        if want and not self.tracking:
            self.tracker.resume()
            if self.bursts is not None:
                self.bursts.restart()
            self._remove_hook = self._add_hook(self._step_hook)
        elif not want and self.tracking:
            self.tracker.flush()
            self._remove_hook()
            self._remove_hook = None

    def close(self) -> None:
        if self.tracking:
            self._remove_hook()
            self._remove_hook = None

    @torch.no_grad()
    def __call__(self, context: RunContext) -> WeightsPayload:
        if self.tracker is not None:
            self.tracker.flush()
            self.latest = self.tracker.latest
        cols = self.columns
        n = cols.n
        counts = cols.counts[:n]
        width = torch.exp2(cols.e[:n].double())
        peak = counts.amax(-1).double()
        inv_peak = torch.where(peak > 0, 1.0 / peak.clamp_min(1), 0.0)
        grid = torch.stack([cols.k0[:n] * width, width, inv_peak, counts.sum(-1).double()], dim=-1)
        tracked = cols.tracked_per_column()
        steps = torch.as_tensor(tracked, device=cols.device, dtype=torch.float64)
        sums = cols.health[:n]  # (n, 4, L)
        means = torch.where(steps[:, None, None] > 0, sums[:, :3] / steps.clamp_min(1)[:, None, None], float("nan"))
        return WeightsPayload(
            step=context.step,
            layers=[{"name": l.name, "kind": l.kind, "shape": l.shape, "label": l.label} for l in self.layers],
            column_steps=cols.column_steps(),
            tracked=tracked,
            stride=cols.stride,
            counts=counts.permute(1, 0, 2).float().contiguous(),
            grid=grid.permute(1, 0, 2).float().contiguous(),
            extent=torch.stack([cols.lo[:n], cols.hi[:n]], dim=-1).permute(1, 0, 2).float().contiguous(),
            health=means.permute(2, 0, 1).float().contiguous(),
            dead_steps=sums[:, 3].T.float().contiguous(),
            latest=self.latest.clone(),
            matrices=self._matrices(),
            filters={l.index: filter_grid(l.weight, l.index == self._colour) for l in self.layers
                     if l.kind == "conv"},
        )

    def _matrices(self) -> dict[int, MatrixImage]:
        matrices = {l.index: matrix_image(l.weight) for l in self.layers if l.kind == "linear"}
        for index, matrix in matrices.items():
            seen = self._range_max.get(index)
            seen = matrix.absmax.clone() if seen is None else torch.maximum(seen, matrix.absmax)
            self._range_max[index] = matrix.range_max = seen
        return matrices


def weights_probe(context: RunContext) -> WeightsProbe:
    return WeightsProbe(context)
