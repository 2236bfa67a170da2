"""The tracker for any device: rows of raw values per step, reduced in batches (see `tracker`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gpuviz_app.core.probes.weights import histogram as H
from gpuviz_app.core.probes.weights.tracker import WeightTracker


class BatchTracker(WeightTracker):
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

    def __call__(self, context: Any) -> None:
        if not self.pending:
            self.pending_first = context.step
        torch.cat([p.reshape(-1) for p in self.params] + [g.reshape(-1) for g in self.grads()],
                  out=self.rows[self.pending])
        self.pending += 1
        self.last_step = context.step
        if self.pending == len(self.rows):
            self.flush()

    @torch.no_grad()
    def flush(self) -> None:
        k = self.pending
        if not k:
            return
        rows = self.rows[:k]
        n, nl, bins = self.n_weights, self.layers, self.columns.bins
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
        self.columns.add(self.pending_first, hist, e, k0, lo, hi, nonfinite, health)
        self.pending = 0
