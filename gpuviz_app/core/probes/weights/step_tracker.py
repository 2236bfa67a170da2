"""The CPU tracker: each step is binned right after it, while its values are in cache.

Weights and gradients are copied into a padded 2-D buffer of CHUNK-wide rows, one
series per run of rows, so that a grid's scale and offset are per-row values broadcast
along the row, not per-element arrays. The step is then binned on the current grid
(multiply by 2**-e, floor, shift, clamp, one bincount), with one slot below and one
above each series' bins. A value outside the grid lands in those slots; then the step
is binned again exactly on a grid grown to hold it (earlier rows of the batch move to
it with `histogram.rebin`), so counts stay exact. Grids are refitted, possibly finer,
with some headroom at each batch boundary.

With a core to spare (torch's own threads leave one free, and it is idle), the binning
runs on a single-threaded worker: the step hook only copies the values into a ring of
buffers and training goes on while the previous step is binned. The worker takes steps
in order and the hook waits for it only when the ring is full or the batch is flushed, so
the columns are the same as binned on the training thread. Without an idle spare core
the worker takes CPU from training, so the hook bins the step itself.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

from gpuviz_app.core.cpu_workers import set_threads_here
from gpuviz_app.core.probes.weights import histogram as H
from gpuviz_app.core.probes.weights.tracker import WeightTracker

CHUNK = 256
HEADROOM = 0.125  # of the data's span, added on each side when a grid is fitted
RING = 3  # buffers with a worker: the step being copied, the step being binned, its previous weights


def spare_core() -> bool:
    """Whether a core is left over by torch's intra-op threads (the training's) and idle now.

    On a busy machine the worker gets the core late (and the training thread waits for
    it at each flush and for the GIL), and training is slower than with the binning in
    the hook (see benchmarks/README.md)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not reported here
        busy = float(cores)
    return cores > torch.get_num_threads() and busy <= cores - 1


def occupied_bounds(hist: torch.Tensor, e: torch.Tensor, k0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Value bounds [lo, hi] (float64) enclosing the non-empty bins of hist (..., bins)
    on grids (e, k0) broadcast to hist's leading dims; (+inf, -inf) where empty."""
    bins = hist.shape[-1]
    nz = hist > 0
    first = nz.int().argmax(-1)
    last = bins - 1 - nz.flip(-1).int().argmax(-1)
    width = torch.exp2(e.double())
    lo = (k0 + first).double() * width
    hi = torch.nextafter((k0 + last + 1).double() * width, torch.tensor(float("-inf"), dtype=torch.float64))
    empty = ~nz.any(-1)
    return torch.where(empty, float("inf"), lo), torch.where(empty, float("-inf"), hi)


class StepTracker(WeightTracker):
    def __init__(self, params: list[torch.nn.Parameter], device: torch.device, capacity: int = 512,
                 max_rows: int = 32, background: bool | None = None) -> None:
        """`background`: bin on a worker thread (None: when `spare_core()`)."""
        super().__init__(params, device, capacity)
        self.background = spare_core() if background is None else bool(background)
        self._worker: ThreadPoolExecutor | None = None
        self._queued: deque[Future] = deque()
        self.worker_time = 0.0  # CPU seconds the worker spent binning (thread time)
        s, nl, bins = len(self.sizes), self.layers, self.columns.bins
        self.slots = bins + 2
        chunks = [math.ceil(n / CHUNK) for n in self.sizes]
        self.chunk_series = torch.repeat_interleave(torch.arange(s), torch.tensor(chunks, dtype=torch.int64))
        rows = sum(chunks)
        self.weight_rows = sum(chunks[:nl])
        self.bufs = [torch.zeros(rows, CHUNK) for _ in range(RING if self.background else 2)]
        starts = [0] + torch.tensor(chunks).cumsum(0).tolist()
        self.views = [[b.view(-1)[starts[i] * CHUNK : starts[i] * CHUNK + n] for i, n in enumerate(self.sizes)]
                      for b in self.bufs]
        shapes = [p.shape for p in params] * 2
        self.shaped = [[v.view(shape) for v, shape in zip(views, shapes)] for views in self.views]
        self.padding = torch.tensor([c * CHUNK - n for c, n in zip(chunks, self.sizes)], dtype=torch.int64)
        self.slot = 0  # the buffer the next step is copied into; the one before holds the weights before it
        with torch.no_grad():
            torch._foreach_copy_(self.views[-1][:nl], [p.reshape(-1) for p in params])
        self.t = torch.empty(rows, CHUNK)
        self.ti = torch.empty(rows, CHUNK, dtype=torch.int16 if s * self.slots < 2**15 else torch.int32)
        self.acc = torch.zeros(max_rows, s * self.slots, dtype=torch.int64)
        self.nonfinite = torch.zeros(max_rows, s, dtype=torch.int64)
        self.norms = torch.zeros(max_rows, rows)
        self.dnorms = torch.zeros(max_rows, self.weight_rows)
        series = torch.arange(s)
        self.edge_slots = torch.stack([series * self.slots, series * self.slots + bins + 1], 1).reshape(-1)
        self.base_c = (self.chunk_series * self.slots + 1).float()[:, None]
        self.sources = [p.detach() for p in params]  # the optimizer updates them in place
        self._raw: list[torch.Tensor] = []  # this batch's bincounts not yet moved into `acc`
        self.exact_steps = 0  # steps that left the grid and were binned again
        self._set_grid(torch.full((s,), H.E_MIN), torch.full((s,), -(bins // 2)))

    def _set_grid(self, e: torch.Tensor, k0: torch.Tensor) -> None:
        self.e, self.k0 = e, k0
        series = torch.arange(len(self.sizes))
        self.scale_c = torch.exp2(-e.double()).float()[self.chunk_series][:, None]
        self.k0_c = k0.float()[self.chunk_series][:, None]
        zero_slot = (-k0).clamp(-1, self.columns.bins) + 1 + series * self.slots
        self.padfix = torch.zeros(len(self.sizes) * self.slots, dtype=torch.int64)
        self.padfix.index_add_(0, zero_slot, -self.padding)  # the padding zeros, taken back out
        self.edge_expect = -self.padfix[self.edge_slots]  # padding zeros when zero is outside a grid

    @torch.no_grad()
    def resume(self) -> None:
        self._wait(0)
        before = (self.slot - 1) % len(self.bufs)
        torch._foreach_copy_(self.views[before][: self.layers], [p.reshape(-1) for p in self.sources])

    def __call__(self, context: Any) -> None:
        i = self.pending
        if not i:
            self.pending_first = context.step
        n = len(self.bufs)
        slot, before = self.slot, (self.slot - 1) % n
        # this buffer was the step n back's and, as weights before, the step n - 1 back's
        self._wait(n - 2)
        torch._foreach_copy_(self.shaped[slot], self.sources + self.grads())
        if self.background:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, "gpuviz-weights", initializer=set_threads_here, initargs=(1,))
            self._queued.append(self._worker.submit(self._bin_timed, i, slot, before))
        else:
            self._bin(i, slot, before)
        self.slot = (slot + 1) % n
        self.pending += 1
        self.last_step = context.step
        if self.pending == len(self.acc):
            self.flush()

    def _wait(self, queued: int) -> None:
        """Wait until at most `queued` steps are left to the worker (its errors are raised here)."""
        while len(self._queued) > queued:
            self._queued.popleft().result()

    def _bin_timed(self, i: int, slot: int, before: int) -> None:
        start = time.thread_time()
        with torch.no_grad():
            self._bin(i, slot, before)
        self.worker_time += time.thread_time() - start

    def _bin(self, i: int, slot: int, before: int) -> None:
        """Bin the step in buffer `slot` into row i, and its norms (the update's from buffer `before`)."""
        buf, prev = self.bufs[slot], self.bufs[before]
        if not self._bin_fast(buf):
            self._bin_exactly(i, buf, self.views[slot])
        wr = self.weight_rows
        torch.linalg.vector_norm(buf, dim=1, out=self.norms[i])
        torch.linalg.vector_norm(torch.sub(buf[:wr], prev[:wr], out=self.t[:wr]), dim=1, out=self.dnorms[i])

    def _bin_fast(self, buf: torch.Tensor) -> bool:
        """Bin buf on the current grids into the next row; False if a value fell outside them."""
        # slot = series * slots + 1 + clamp(floor(x * 2**-e) - k0, -1, bins), exact in float32
        t = self.t
        torch.mul(buf, self.scale_c, out=t)
        t.floor_()
        t.sub_(self.k0_c)
        t.clamp_(-1.0, float(self.columns.bins))
        t.add_(self.base_c)
        self.ti.copy_(t)
        try:
            counts = torch.bincount(self.ti.view(-1), minlength=len(self.padfix))
        except RuntimeError:  # a NaN became a negative index
            return False
        if not torch.equal(counts.index_select(0, self.edge_slots), self.edge_expect):
            return False
        self._raw.append(counts)
        return True

    def _materialise(self, end: int) -> None:
        """Move the bincounts of rows up to `end` (exclusive) into `acc`, padding taken out."""
        if self._raw:
            torch.add(torch.stack(self._raw), self.padfix, out=self.acc[end - len(self._raw) : end])
            self._raw.clear()

    def _rows(self, k: int) -> torch.Tensor:
        """The first k rows' bins (k, S, bins), a view without the outside slots."""
        return self.acc[:k].view(k, -1, self.slots)[..., 1:-1]

    def _bin_exactly(self, i: int, buf: torch.Tensor, views: list[torch.Tensor]) -> None:
        """Grow the grids to hold step i, move rows < i onto them, and bin step i again."""
        self._materialise(i)
        n = len(self.sizes)
        where = self.chunk_series
        lo = torch.full((n,), float("inf")).scatter_reduce_(0, where, buf.amin(1), "amin")
        hi = torch.full((n,), float("-inf")).scatter_reduce_(0, where, buf.amax(1), "amax")
        finite = bool(torch.isfinite(lo).all() & torch.isfinite(hi).all())
        if not finite:  # extremes of the finite values only
            ranges = [H.finite_range(v) for v in views]
            lo = torch.stack([r[0] for r in ranges])
            hi = torch.stack([r[1] for r in ranges])
        lo, hi = lo.double(), hi.double()  # (the padding's zeros may widen them a little: harmless)
        if i:
            rows_lo, rows_hi = occupied_bounds(self._rows(i).sum(0), self.e, self.k0)
            lo, hi = torch.minimum(lo, rows_lo), torch.maximum(hi, rows_hi)
        pad = HEADROOM * torch.nan_to_num(hi - lo, nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0)
        e, k0 = H.fit(lo - pad, hi + pad, self.e if i else None, self.columns.bins)
        if i:
            self._rows(i).copy_(H.rebin(self._rows(i), self.e, self.k0, e, k0))
        self._set_grid(e, k0)
        self.exact_steps += 1
        if finite and self._bin_fast(buf):
            self._materialise(i + 1)
            return
        row = self.acc[i].view(-1, self.slots)
        row.zero_()
        for s, v in enumerate(views):
            row[s, 1:-1] = H.count(H.bin_index(v, e[s], k0[s]), self.columns.bins, sanitise=True)
        self.nonfinite[i] = torch.tensor(self.sizes) - row.sum(-1)

    @torch.no_grad()
    def flush(self) -> None:
        self._wait(0)
        k = self.pending
        if not k:
            return
        nl = self.layers
        self._materialise(k)
        hist = self._rows(k).contiguous()
        # value bounds of the whole batch stand for each row's (a valid, slightly wider bound)
        blo, bhi = occupied_bounds(hist.sum(0), self.e, self.k0)
        sq = torch.zeros(k, len(self.sizes), dtype=torch.float64)
        sq.index_add_(1, self.chunk_series, self.norms[:k].double() ** 2)
        dsq = torch.zeros(k, nl, dtype=torch.float64)
        dsq.index_add_(1, self.chunk_series[: self.weight_rows], self.dnorms[:k].double() ** 2)
        gnorm = sq[:, nl:].sqrt()
        health = self._health(gnorm, sq[:, :nl].sqrt(), dsq.sqrt(), gnorm == 0)
        self.columns.add(self.pending_first, hist, self.e, self.k0, blo.expand(k, -1), bhi.expand(k, -1),
                      self.nonfinite[:k].clone(), health)
        # the next batch starts on grids fitted to this one (finer if the data shrank)
        pad = HEADROOM * torch.nan_to_num(bhi - blo, nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0)
        self._set_grid(*H.fit(blo - pad, bhi + pad, bins=self.columns.bins))
        self.nonfinite.zero_()
        self.pending = 0
