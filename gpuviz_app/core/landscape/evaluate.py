"""The loss at many weight vectors per call: torch.func.functional_call batched with vmap.

The evaluator owns a private copy of the model (functional_call swaps a module's tensors
while it runs, so it must never touch the module the trainer is stepping) and a fixed
evaluation batch, so every loss it reports, on the surface or along the path, is measured
on the same data.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Callable

import torch
from torch import nn
from torch.func import functional_call, vmap

from gpuviz_app.core.landscape.params import ParamLayout

CPU_MAX_CHUNK = 16  # small chunks on the CPU keep cancel and throttling responsive


def evaluation_batch(data: Any, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `size` held-out samples (training samples when there is no held-out split)."""
    idx = data.eval_idx if len(data.eval_idx) else data.train_idx
    idx = idx[:size]
    return data.x[idx], data.y[idx]


class SurfaceEvaluator:
    def __init__(self, model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
                 chunk: int | None = None, memory_bytes: int | None = None) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.layout = ParamLayout(self.module)
        self.loss_fn = copy.deepcopy(loss_fn)
        self.x, self.y = x, y
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
        chunk = self.chunk()
        return torch.cat([self._batched_losses(flats[s : s + chunk]) for s in range(0, flats.shape[0], chunk)])

    @torch.no_grad()
    def plane_losses(self, centre: torch.Tensor, directions: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Losses at centre + coords @ directions for a chunk of coordinates (k x r)."""
        flats = torch.addmm(centre.unsqueeze(0), coords.to(centre.dtype), directions)
        return self._batched_losses(flats)

    def _batched_losses(self, flats: torch.Tensor) -> torch.Tensor:
        with self._busy:
            return self._batched(self.layout.unflatten(flats))

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
