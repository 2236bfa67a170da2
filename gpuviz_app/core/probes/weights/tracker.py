"""Step hooks that track every step's weight and gradient histograms and layer health.

Series s < L are layer s's weights, series L + s its gradients. Two strategies, both
exact and both feeding `HistogramColumns`, share the `WeightTracker` base here:

- `BatchTracker` (any device, never reads back, `batch_tracker.py`): one `torch.cat` per
  step into a row buffer; every `rows` steps, or when the probe runs, the rows are reduced
  in one batch (fit a grid to the batch's extremes, bin, norms). On a GPU this is a
  handful of kernel launches per step.
- `StepTracker` (CPU, `step_tracker.py`): bins each step right after it, while its values
  are still in cache; reading the overflow check costs nothing on the CPU.
"""

from __future__ import annotations

import torch

from gpuviz_app.core.probes.weights.columns import HistogramColumns


class WeightTracker:
    """What both strategies share: the layers' parameters, the columns, the last step's health.

    Called as a step hook with the run context (`context.step` is the step just taken)."""

    def __init__(self, params: list[torch.nn.Parameter], device: torch.device, capacity: int = 512) -> None:
        self.params = params
        self.device = torch.device(device)
        self.layers = len(params)
        self.sizes = [p.numel() for p in params] * 2
        self.n_weights = sum(self.sizes[: self.layers])
        self.columns = HistogramColumns(2 * self.layers, self.layers, self.device, capacity)
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
        """Take up tracking after a gap: the next step's update is measured from the weights
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
