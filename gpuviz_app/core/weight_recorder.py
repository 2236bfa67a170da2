"""Step hooks that record every step's weight and gradient histograms and layer health.

Series s < L are layer s's weights, series L + s its gradients. Two strategies, both
exact and both feeding a `ColumnRing`:

- `BatchRecorder` (any device, never reads back): one `torch.cat` per step into a row
  buffer; every `rows` steps, or when the probe runs, the rows are reduced in one batch
  (fit a grid to the batch's extremes, bin, norms). On a GPU this is a handful of
  kernel launches per step.
- `StepRecorder` (CPU): bins each step right after it, while its values are still in
  cache (see `weight_step.py`); reading the overflow check costs nothing on the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gpuviz_app.core import histogram as H
from gpuviz_app.core.weight_ring import ColumnRing


class Recorder:
    """What both strategies share: the layers' parameters, the ring, the last step's health."""

    def __init__(self, params: list[torch.nn.Parameter], device: torch.device, capacity: int = 512) -> None:
        self.params = params
        self.device = torch.device(device)
        self.layers = len(params)
        self.sizes = [p.numel() for p in params] * 2
        self.n_weights = sum(self.sizes[: self.layers])
        self.ring = ColumnRing(2 * self.layers, self.layers, self.device, capacity)
        self.latest = torch.zeros(4, self.layers, device=self.device)
        self.pending = 0
        self.pending_first = 0
        self.last_step = 0
        self._zeros: dict[int, torch.Tensor] = {}

    def grads(self) -> list[torch.Tensor]:
        """Each layer's gradient, zeros standing in for a missing one (which counts as dead)."""
        out = []
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                if i not in self._zeros:
                    self._zeros[i] = torch.zeros_like(p, memory_format=torch.contiguous_format)
                g = self._zeros[i]
            out.append(g)
        return out

    def flush(self) -> None:
        raise NotImplementedError

    def resume(self) -> None:
        """Take up recording after a gap: the next step's update is measured from the weights
        as they are now. Call with nothing pending (after `flush`)."""
        raise NotImplementedError

    def _health(self, gnorm: torch.Tensor, wnorm: torch.Tensor, dnorm: torch.Tensor,
                dead: torch.Tensor) -> torch.Tensor:
        """(K, 4, L) float64 rows of (grad norm, update ratio, weight norm, dead 0/1).

        Dead means a gradient norm of exactly zero: every entry zero (or all below ~1e-22,
        whose squares vanish in float32: as good as zero for an update)."""
        ratio = dnorm / wnorm.clamp_min(torch.finfo(torch.float32).tiny)
        health = torch.stack([gnorm, ratio, wnorm, dead.float()], dim=1)
        self.latest = health[-1].float().clone()
        return health.double()


class BatchRecorder(Recorder):
    def __init__(self, params: list[torch.nn.Parameter], device: torch.device, capacity: int = 512,
                 max_rows: int = 32, max_bytes: int = 16 << 20) -> None:
        super().__init__(params, device, capacity)
        n = self.n_weights
        offsets = np.concatenate([[0], np.cumsum(self.sizes)]).tolist()
        self.spans = list(zip(offsets[:-1], offsets[1:]))
        rows = max(1, min(max_rows, max_bytes // max(8 * n, 1)))
        self.rows = torch.empty(rows, 2 * n, device=self.device)
        with torch.no_grad():
            self.prev = torch.cat([p.detach().reshape(-1) for p in params])

    @torch.no_grad()
    def resume(self) -> None:
        torch.cat([p.detach().reshape(-1) for p in self.params], out=self.prev)

    def __call__(self, trainer: Any) -> None:
        if not self.pending:
            self.pending_first = trainer.step_count
        torch.cat([p.reshape(-1) for p in self.params] + [g.reshape(-1) for g in self.grads()],
                  out=self.rows[self.pending])
        self.pending += 1
        self.last_step = trainer.step_count
        if self.pending == len(self.rows):
            self.flush()

    @torch.no_grad()
    def flush(self) -> None:
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
        nonfinite = torch.tensor(self.sizes, device=self.device) - hist.sum(-1)
        delta = torch.diff(rows[:, :n], dim=0, prepend=self.prev[None])
        gnorm = torch.stack([torch.linalg.vector_norm(g, dim=1) for g in parts[nl:]], dim=1)
        wnorm = torch.stack([torch.linalg.vector_norm(w, dim=1) for w in parts[:nl]], dim=1)
        dnorm = torch.stack([torch.linalg.vector_norm(delta[:, a:b], dim=1) for a, b in self.spans[:nl]], dim=1)
        health = self._health(gnorm, wnorm, dnorm, gnorm == 0)
        self.prev.copy_(rows[-1, :n])
        self.ring.add(self.pending_first, hist, e, k0, lo, hi, nonfinite, health)
        self.pending = 0


def make_recorder(params: list[torch.nn.Parameter], device: torch.device, capacity: int = 512,
                  kind: str = "auto") -> Recorder:
    """`StepRecorder` on the CPU, `BatchRecorder` elsewhere (or as `kind` says)."""
    from gpuviz_app.core.weight_step import StepRecorder

    if kind == "auto":
        kind = "step" if torch.device(device).type == "cpu" else "batch"
    cls = StepRecorder if kind == "step" else BatchRecorder
    return cls(params, device, capacity)
