"""The loss at many weight vectors per call: vmap over functional_call, or point by point.

The evaluator owns a private copy of the model (functional_call swaps a module's tensors
while it runs, so it must never touch the module the trainer is stepping) and a fixed
evaluation batch, so every loss it reports, on the surface or along the path, is measured
on the same data.

Two ways to evaluate many points, chosen by device. On a GPU, torch.func's vmap turns a
chunk of points into one batched call. On the CPU that is slower than one plain forward
per point (vmap makes each convolution a grouped one), so there copies of the module
have parameters that are views of one flat buffer: a point is one `addmv` into it and
one ordinary forward, and the points are shared out over single-threaded workers (see
`core.cpu_workers`). Image batches are fed channels-last there, the layout the CPU's
pooling kernels vectorise.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Callable

import torch
from torch import nn
from torch.func import functional_call, vmap

from gpuviz_app.core.cpu_workers import shared_workers, split
from gpuviz_app.core.probes.landscape.params import ParamLayout

CPU_MAX_CHUNK = 16  # small chunks on the CPU keep cancel and throttling responsive


def evaluation_batch(context: Any, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's first `size` held-out samples and their targets (any rows when none are held out).

    Raises ValueError when the run has no targets: there is no loss to draw then."""
    if context.targets is None:
        raise ValueError("the run has no targets")
    rows = context.evaluation_rows(size)
    return context.inputs[rows], context.targets[rows]


class SurfaceEvaluator:
    def __init__(self, model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
                 chunk: int | None = None, memory_bytes: int | None = None,
                 pointwise: bool | None = None) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.layout = ParamLayout(self.module)
        self.pointwise = x.device.type == "cpu" if pointwise is None else pointwise
        self._replicas: list[_PointModule] = []
        self.workers: int | None = None  # CPU points in parallel; None: the caller's torch threads
        self.loss_fn = copy.deepcopy(loss_fn)
        self.x, self.y = x, y
        # images as channels-last: the CPU's pooling kernels are much faster on that layout
        # (`to`, not `contiguous`: with one channel the latter keeps the old strides)
        self._x_pointwise = x.to(memory_format=torch.channels_last) if self.pointwise and x.dim() == 4 else x
        self.device = x.device
        self.buffers: dict[str, torch.Tensor] = {n: b.detach().clone() for n, b in self.module.named_buffers()}
        self._chunk = chunk
        self._memory_bytes = memory_bytes
        self._batched = vmap(self._loss, in_dims=(0,))
        # functional_call swaps the module's tensors while it runs: one caller at a time
        self._busy = threading.Lock()

    def set_buffers(self, buffers: dict[str, torch.Tensor]) -> None:
        """Running statistics (batch norm) of the weights at the centre."""
        self.buffers = dict(buffers)

    def _loss(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        out = functional_call(self.module, (params, self.buffers), (self.x,))
        return self.loss_fn(out, self.y)

    @torch.no_grad()
    def loss(self, flat: torch.Tensor) -> torch.Tensor:
        """The loss at one weight vector, without vmap (the reference the batched path must match)."""
        with self._busy:
            return self._loss(self.layout.unflatten(flat))

    @torch.no_grad()
    def losses(self, flats: torch.Tensor) -> torch.Tensor:
        """Losses at each row of `flats` (k x P), `chunk` rows per batched call."""
        if self.pointwise:
            return self._pointwise_losses(len(flats), lambda i, out: out.copy_(flats[i]))
        chunk = self.chunk()
        return torch.cat([self._batched_losses(flats[s : s + chunk]) for s in range(0, flats.shape[0], chunk)])

    @torch.no_grad()
    def plane_losses(self, centre: torch.Tensor, directions: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Losses at centre + coords @ directions for a chunk of coordinates (k x r)."""
        coords = coords.to(centre.dtype)
        if self.pointwise:
            along = directions.T
            return self._pointwise_losses(len(coords), lambda i, out: torch.addmv(centre, along, coords[i], out=out))
        flats = torch.addmm(centre.unsqueeze(0), coords, directions)
        return self._batched_losses(flats)

    def _batched_losses(self, flats: torch.Tensor) -> torch.Tensor:
        with self._busy:
            return self._batched(self.layout.unflatten(flats))

    def _pointwise_losses(self, count: int, write_point: Callable[[int, torch.Tensor], Any]) -> torch.Tensor:
        """One plain forward per point, after `write_point(i, vector)` puts point i into a replica.

        The points are split over `workers` single-threaded workers (by default as many
        as the calling thread's torch threads), one replica each.
        """
        out = torch.empty(count, device=self.device)
        n = max(1, min(self.workers or torch.get_num_threads(), count))
        with self._busy:
            while len(self._replicas) < n:
                self._replicas.append(_PointModule(self.module, self.layout))
            for r in self._replicas[:n]:
                r.load_buffers(self.buffers)

            def block(r: _PointModule, start: int, end: int) -> None:
                for i in range(start, end):
                    write_point(i, r.point)
                    out[i] = self.loss_fn(r.module(self._x_pointwise), self.y)

            if n == 1:
                block(self._replicas[0], 0, count)
            else:
                tasks = [lambda r=r, a=a, b=b: block(r, a, b) for r, (a, b) in zip(self._replicas, split(count, n))]
                shared_workers("gpuviz-landscape", n).run(tasks)
        return out

    def chunk(self) -> int:
        """Points per batched call: what fits in the memory budget (capped on the CPU)."""
        if self._chunk is None:
            self._chunk = self._fit_chunk()
        return self._chunk

    def _fit_chunk(self) -> int:
        per_point = self._bytes_per_point()
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            budget = self._memory_bytes or min(free // 4, 2 << 30)
            cap = 1024
        else:
            budget = self._memory_bytes or (256 << 20)
            cap = CPU_MAX_CHUNK
        return int(max(1, min(cap, budget // max(per_point, 1))))

    @torch.no_grad()
    def _bytes_per_point(self) -> int:
        """Activation and weight bytes one grid point needs, from one forward pass."""
        total = [0]

        def count(_module, _inputs, output) -> None:
            if isinstance(output, torch.Tensor):
                total[0] += output.numel() * output.element_size()

        handles = [m.register_forward_hook(count) for m in self.module.modules() if not list(m.children())]
        try:
            with self._busy:
                self.module(self.x[:1])
        finally:
            for h in handles:
                h.remove()
        activations = total[0] * len(self.x)
        return 3 * activations + 3 * self.layout.size * 4


class _PointModule:
    """A copy of the module whose parameters are views of one vector, `point`."""

    def __init__(self, module: nn.Module, layout: ParamLayout) -> None:
        self.module = copy.deepcopy(module)
        self.point = layout.flatten(self.module)
        for slot, p in zip(layout.slots, self.module.parameters()):
            p.data = self.point[slot.offset : slot.offset + slot.numel].view(slot.shape)

    def load_buffers(self, buffers: dict[str, torch.Tensor]) -> None:
        for name, b in self.module.named_buffers():
            if name in buffers:
                b.copy_(buffers[name])
