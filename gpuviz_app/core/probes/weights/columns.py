"""Every training step's histograms and layer health in fixed memory, on the device.

A column holds a run of `stride` consecutive steps: for each series (a layer's weights or
gradients) a histogram on its own power-of-two grid, the exact min/max of the values, and
per layer the sums of gradient norm, update-to-weight ratio and weight norm plus the
number of steps whose gradient was all zero. When the columns are full, neighbours merge:
both histograms move to the union grid (`histogram.union`/`rebin`, exact) and their counts
add; sums add (the columns are a `core.merge_store.MergeStore` over steps). So after a
million steps every step is still counted once, in a column covering 2**k of them; nothing
is sampled or dropped. Steps that were not tracked (the tracker was off: its view hidden)
leave a gap: columns span steps, and `tracked` counts the steps each one actually holds.
Step bookkeeping is on the host (plain ints), values on the device (no reads back).
"""

from __future__ import annotations

import numpy as np
import torch

from gpuviz_app.core.merge_store import MergeStore
from gpuviz_app.core.probes.weights import histogram as H

HEALTH = ("grad_norm", "update_ratio", "weight_norm", "dead_steps")


class HistogramColumns:
    """Per-step histograms and health sums in `capacity` columns (a `MergeStore` over steps)."""

    def __init__(self, series: int, layers: int, device: torch.device, capacity: int = 512,
                 bins: int = H.BINS) -> None:
        self._store = MergeStore(capacity, self._merge_pairs)
        self.capacity, self.bins, self.device = capacity, bins, torch.device(device)
        self.first_step: int | None = None
        c, s = capacity, series
        self.counts = torch.zeros(c, s, bins, dtype=torch.int64, device=self.device)
        self.e = torch.full((c, s), H.E_MIN, dtype=torch.int64, device=self.device)
        self.k0 = torch.zeros(c, s, dtype=torch.int64, device=self.device)
        self.lo = torch.full((c, s), float("inf"), dtype=torch.float64, device=self.device)
        self.hi = torch.full((c, s), float("-inf"), dtype=torch.float64, device=self.device)
        self.nonfinite = torch.zeros(c, s, dtype=torch.int64, device=self.device)
        self.health = torch.zeros(c, len(HEALTH), layers, dtype=torch.float64, device=self.device)

    # -- host bookkeeping ---------------------------------------------------------------
    @property
    def n(self) -> int:
        """Columns in use."""
        return self._store.n

    @property
    def stride(self) -> int:
        """Steps each column spans."""
        return self._store.stride

    @property
    def steps(self) -> int:
        """Steps spanned since `first_step`, gaps included."""
        return self._store.end

    def column_steps(self) -> np.ndarray:
        """(n, 2) first and last step of each column in use."""
        if self.first_step is None:
            return np.zeros((0, 2), np.int64)
        return self.first_step + self._store.spans()

    def tracked_per_column(self) -> np.ndarray:
        """Steps each column in use holds (fewer than it spans across a gap; 0 inside one)."""
        return self._store.held[: self.n].copy()

    @property
    def tracked_steps(self) -> int:
        return self._store.total

    # -- adding -----------------------------------------------------------------------------
    def add(self, first_step: int, hist: torch.Tensor, e: torch.Tensor, k0: torch.Tensor,
            lo: torch.Tensor, hi: torch.Tensor, nonfinite: torch.Tensor, health: torch.Tensor) -> None:
        """Add K consecutive steps starting at `first_step` (later than the last step added:
        the steps between are a gap).

        hist (K, S, bins) int64 binned on the batch grids e, k0 (S,); lo/hi (K, S) float64
        (+inf/-inf where a row had no finite value); nonfinite (K, S); health (K, 4, L).
        """
        k = hist.shape[0]
        if self.first_step is None:
            self.first_step = first_step
        try:
            cols = self._store.place(first_step - self.first_step, k)
        except ValueError:
            raise ValueError(f"steps must come in order: expected {self.first_step + self.steps} or later, "
                             f"got {first_step}") from None
        c0, c1 = int(cols[0]), int(cols[-1])
        t = c1 - c0 + 1
        rel = torch.as_tensor(cols - c0, device=self.device)
        s = hist.shape[1]
        new = torch.zeros(t, s, self.bins, dtype=torch.int64, device=self.device).index_add_(0, rel, hist)
        new_lo = torch.full((t, s), float("inf"), dtype=torch.float64, device=self.device)
        where = rel[:, None].expand(k, s)
        new_lo.scatter_reduce_(0, where, lo, "amin")
        new_hi = torch.full((t, s), float("-inf"), dtype=torch.float64, device=self.device)
        new_hi.scatter_reduce_(0, where, hi, "amax")
        sl = slice(c0, c1 + 1)
        be, bk = e.expand(t, s), k0.expand(t, s)
        if self._store.held[c0] == int((cols == c0).sum()):  # all new columns: they take the batch's grids
            self.counts[sl], self.e[sl], self.k0[sl], self.lo[sl], self.hi[sl] = new, be, bk, new_lo, new_hi
        else:  # the first column holds earlier steps: move both onto the union grids
            ue, uk, ulo, uhi = H.union(self.e[sl], self.k0[sl], self.lo[sl], self.hi[sl], be, bk, new_lo, new_hi,
                                       self.bins)
            self.counts[sl] = H.rebin(self.counts[sl], self.e[sl], self.k0[sl], ue, uk) + H.rebin(new, be, bk, ue, uk)
            self.e[sl], self.k0[sl], self.lo[sl], self.hi[sl] = ue, uk, ulo, uhi
        self.nonfinite[sl].index_add_(0, rel, nonfinite)
        self.health[sl].index_add_(0, rel, health)

    def merge(self) -> None:
        """Halve the columns in use: each even/odd pair becomes one column, exactly."""
        self._store.merge()

    def _merge_pairs(self, a: slice, b: slice, h: int) -> None:
        ue, uk, ulo, uhi = H.union(self.e[a], self.k0[a], self.lo[a], self.hi[a],
                                   self.e[b], self.k0[b], self.lo[b], self.hi[b], self.bins)
        merged = H.rebin(self.counts[a], self.e[a], self.k0[a], ue, uk) + \
            H.rebin(self.counts[b], self.e[b], self.k0[b], ue, uk)
        nonfinite = self.nonfinite[a] + self.nonfinite[b]
        health = self.health[a] + self.health[b]
        self._clear(slice(0, self.capacity))
        self.counts[:h], self.e[:h], self.k0[:h], self.lo[:h], self.hi[:h] = merged, ue, uk, ulo, uhi
        self.nonfinite[:h], self.health[:h] = nonfinite, health

    def _clear(self, sl: slice) -> None:
        self.counts[sl] = 0
        self.e[sl] = H.E_MIN
        self.k0[sl] = 0
        self.lo[sl] = float("inf")
        self.hi[sl] = float("-inf")
        self.nonfinite[sl] = 0
        self.health[sl] = 0
