"""The loss at many weight vectors per call: one plain forward per point, or vmap over points.

The evaluator owns a private copy of the model (functional_call swaps a module's tensors
while it runs, so it must never touch the module the trainer is stepping) and a fixed
evaluation batch, so every loss it reports, on the surface or along the path, is measured
on the same data.

Several ways to evaluate many points, and which is faster depends on the model and the
device (vmap makes each convolution a grouped one, which the CPU runs slowly; a small MLP
gains from batching; a GPU gains from anything batched). So the evaluator measures: the
first call with enough points times each way on a few of its points, interleaved, and
keeps the fastest. `pointwise`: copies of the module have parameters that are views of one
flat buffer, so a point is one `addmv` into it and one ordinary forward. `vmap`:
torch.func's vmap over functional_call, a block of points per call. `first-layer` (points
on a plane only): pointwise, with the first layer's output combined from outputs computed
once per plane (see `first_layer`). On the CPU the points are shared out over
single-threaded workers (see `core.cpu_workers`), one module copy each, each taking the
next point when done with one. The plain forwards there run with each convolution's batch norm
folded into its weights (see `folding`), and image batches go in the memory layout (channels
last or first) whose forward a worker measured fastest: the CPU's pooling kernels vectorise
channels-last, while its convolutions over few channels run faster channels-first.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn
from torch.func import functional_call, vmap

from gpuviz_app.core.cpu_workers import shared_workers, split
from gpuviz_app.core.probes.landscape.first_layer import FirstLayerPlane, first_linear_layer
from gpuviz_app.core.probes.landscape.folding import fold_batch_norms, fold_pairs
from gpuviz_app.core.probes.landscape.params import ParamLayout

CPU_MAX_CHUNK = 16  # small chunks on the CPU keep cancel and throttling responsive
STRATEGIES = ("pointwise", "vmap", "first-layer")
ANY_POINTS = ("pointwise", "vmap")  # the strategies for any weight vectors; first-layer needs a plane
MEASURE_ROUNDS = 2  # each strategy is timed this many times, interleaved with the others; the best counts
MEASURE_MAX_POINTS = 32  # points a strategy is timed on per round, at most
LAYOUT_ROUNDS = 3  # each image layout's forward is timed this many times, after one warm-up each

Rows = Callable[[int, int], torch.Tensor]
WritePoint = Callable[[int, torch.Tensor], Any]


def evaluation_batch(context: Any, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's first `size` held-out samples and their targets (any rows when none are held out).

    Raises ValueError when the run has no targets: there is no loss to draw then."""
    if context.targets is None:
        raise ValueError("the run has no targets")
    rows = context.evaluation_rows(size)
    return context.inputs[rows], context.targets[rows]


@dataclass
class _Plane:
    """A call's points on a plane: centre + coords[i] @ directions, with the first layer's outputs."""

    coords: list[list[float]]
    first: FirstLayerPlane


class SurfaceEvaluator:
    def __init__(self, model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
                 chunk: int | None = None, memory_bytes: int | None = None,
                 pointwise: bool | None = None, strategy: str | None = None) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.layout = ParamLayout(self.module)
        if pointwise is not None:
            strategy = "pointwise" if pointwise else "vmap"
        if strategy is not None and strategy not in STRATEGIES:
            raise ValueError(f"unknown evaluation strategy {strategy!r}")
        self.forced = strategy  # None: measured on the first call with enough points
        self.timings: dict[str, float] = {}  # seconds per point of each strategy, as measured
        self._replicas: list[_PointModule] = []
        self._folds: list[tuple[str, str]] | None = None  # batch norms folded in the copies; None: not looked for
        self.workers: int | None = None  # CPU points in parallel; None: the caller's torch threads
        self.loss_fn = copy.deepcopy(loss_fn)
        self.x, self.y = x, y
        self.device = x.device
        self._x_replicas = x  # the batch the module copies see: its layout is measured on the CPU
        self._layout_pending = self.device.type == "cpu" and x.dim() == 4
        self.layout_timings: dict[str, float] = {}  # seconds per forward in each image layout, as measured
        self.buffers: dict[str, torch.Tensor] = {n: b.detach().clone() for n, b in self.module.named_buffers()}
        self._chunk = chunk
        self._fitted: int | None = None  # points vmap fits in memory, once measured
        self._memory_bytes = memory_bytes
        self._batched = vmap(self._loss, in_dims=(0,))
        self._first: FirstLayerPlane | None | bool = False  # False: not looked for yet; None: none
        # functional_call swaps the module's tensors while it runs: one caller at a time
        self._busy = threading.RLock()

    @property
    def strategy(self) -> str | None:
        """The strategy forced, or the fastest measured (None before any measurement)."""
        if self.forced is not None:
            return self.forced
        return min(self.timings, key=self.timings.get) if self.timings else None

    @property
    def pointwise(self) -> bool:
        """Whether points are evaluated one plain forward each (the rule before any measurement)."""
        return self._choice(ANY_POINTS) == "pointwise"

    def _choice(self, available: tuple[str, ...]) -> str:
        if self.forced is not None:
            return self.forced if self.forced in available else "pointwise"
        known = {s: t for s, t in self.timings.items() if s in available}
        if known:
            return min(known, key=known.get)
        return "pointwise" if self.device.type == "cpu" else "vmap"

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
        """Losses at each row of `flats` (k x P)."""
        return self._evaluate(len(flats), lambda a, b: flats[a:b], lambda i, out: out.copy_(flats[i]))

    @torch.no_grad()
    def plane_losses(self, centre: torch.Tensor, directions: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Losses at centre + coords @ directions for a chunk of coordinates (k x r)."""
        coords = coords.to(centre.dtype)
        along = directions.T
        return self._evaluate(len(coords), lambda a, b: torch.addmm(centre.unsqueeze(0), coords[a:b], directions),
                              lambda i, out: torch.addmv(centre, along, coords[i], out=out),
                              plane=(centre, directions, coords))

    def _evaluate(self, count: int, rows: Rows, write_point: WritePoint,
                  plane: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Losses of points 0..count-1; `rows(a, b)` gives points a..b-1 as weight vectors,
        `write_point(i, vector)` writes point i into a module copy's parameters."""
        out = torch.empty(count, device=self.device)
        with self._busy:
            if self._layout_pending and count:
                self._choose_layout()
            on_plane = self._plane(*plane) if plane is not None and count else None
            available = STRATEGIES if on_plane is not None else ANY_POINTS
            runs = {"pointwise": self._run_pointwise, "vmap": self._run_vmap,
                    "first-layer": lambda a, b, r, w, o: self._run_first_layer(a, b, r, w, o, on_plane)}
            start = 0
            if self.forced is None and any(s not in self.timings for s in available):
                start = self._measure(count, {s: runs[s] for s in available}, rows, write_point, out)
            if start < count:
                runs[self._choice(available)](start, count, rows, write_point, out)
        return out

    @property
    def image_layout(self) -> str | None:
        """The image layout the module copies are fed, once measured ("channels-last" or "contiguous")."""
        return min(self.layout_timings, key=self.layout_timings.get) if self.layout_timings else None

    @property
    def folded_norms(self) -> int:
        """Batch norms the plain forwards fold into their convolutions (see `folding`)."""
        return len(self._folds or ())

    def _choose_layout(self) -> None:
        """Feed the module copies the image layout whose loss a worker computes fastest
        (interleaved rounds after a warm-up, the best of each), before anything keeps the batch."""
        self._layout_pending = False
        candidates = {"channels-last": self.x.to(memory_format=torch.channels_last),
                      "contiguous": self.x.contiguous()}  # (`to`: with one channel `contiguous` keeps the strides)
        replica = self._replicas_for(1)[0]

        def timed() -> dict[str, float]:
            best = {name: math.inf for name in candidates}
            for round_ in range(LAYOUT_ROUNDS + 1):
                for name, x in candidates.items():
                    replica.x = x
                    begin = time.perf_counter()
                    replica.loss()
                    if round_:
                        best[name] = min(best[name], time.perf_counter() - begin)
            return best

        n = self._worker_count(CPU_MAX_CHUNK)
        with torch.no_grad():
            self.layout_timings = timed() if n == 1 else shared_workers("gpuviz-landscape", n).run([timed])[0]
        if self._x_replicas is not candidates[self.image_layout]:
            self._x_replicas = candidates[self.image_layout]
            self._first = False  # its input is found again, in this layout
        for r in self._replicas:
            r.x = self._x_replicas

    def _first_layer(self) -> tuple[str, torch.Tensor] | None:
        """The first layer that is linear in its weights, and its input (see `first_linear_layer`)."""
        if self._first is False:
            found = first_linear_layer(self.module, self._x_replicas)
            self._first = FirstLayerPlane(self.module, *found, self.layout) if found is not None else None
        return (self._first.name, self._first.layer_input) if self._first is not None else None

    def _plane(self, centre: torch.Tensor, directions: torch.Tensor, coords: torch.Tensor) -> _Plane | None:
        """The first layer's outputs for this plane, when the model has such a layer and it may be used."""
        if self.forced not in (None, "first-layer"):
            return None
        if self._first_layer() is None:
            return None
        self._first.prepare(centre, directions)
        return _Plane(coords.tolist(), self._first)

    def _measure(self, count: int, runs: dict[str, Callable], rows: Rows, write_point: WritePoint,
                 out: torch.Tensor) -> int:
        """Time each strategy on the first points of this call, in interleaved rounds (their
        losses are kept), and keep each one's best time per point; returns how many points
        were evaluated. Too few points: nothing is measured (a later call will be)."""
        n = self._worker_count(count)
        spare = count - len(runs)  # after one warm-up point each
        per = min(spare // (MEASURE_ROUNDS * len(runs)), MEASURE_MAX_POINTS)
        per = per - per % n if per >= n else per
        if per < 1:
            return 0
        position = 0
        times: dict[str, float] = {}
        for name, run in runs.items():
            try:  # warm-up: copies made, kernels chosen
                run(position, position + 1, rows, write_point, out)
                position += 1
                times[name] = math.inf
            except RuntimeError as exc:  # vmap has no batching rule for some operations (a GRU's)
                if name == "pointwise":
                    raise
                self.timings[name] = math.inf
        for _ in range(MEASURE_ROUNDS):
            for name in times:
                end = position + per
                self._synchronize()
                begin = time.perf_counter()
                runs[name](position, end, rows, write_point, out)
                self._synchronize()
                times[name] = min(times[name], (time.perf_counter() - begin) / per)
                position = end
        self.timings.update(times)
        return position

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _worker_count(self, count: int) -> int:
        if self.device.type != "cpu":
            return 1
        return max(1, min(self.workers or torch.get_num_threads(), count))

    def _replicas_for(self, n: int) -> list[_PointModule]:
        while len(self._replicas) < n:
            replica = _PointModule(self.module, self.layout, self.loss_fn, self._x_replicas, self.y)
            if self._folds is None:  # watched and checked on the first copy; the others are the same
                first = self._first_layer()
                self._folds = fold_batch_norms(replica.module, self._x_replicas,
                                               keep=first[0] if first is not None else None)
            else:
                fold_pairs(replica.module, self._folds)
            self._replicas.append(replica)
        for r in self._replicas[:n]:
            r.load_buffers(self.buffers)
        return self._replicas[:n]

    def _on_workers(self, start: int, end: int, block: Callable[[_PointModule, int, int], None]) -> None:
        """`block(replica, a, b)` over start..end, split over the workers, one module copy each."""
        n = self._worker_count(end - start)
        replicas = self._replicas_for(n)
        if n == 1:
            block(replicas[0], start, end)
            return
        spans = [(start + a, start + b) for a, b in split(end - start, n)]
        tasks = [lambda r=r, a=a, b=b: block(r, a, b) for r, (a, b) in zip(replicas, spans)]
        shared_workers("gpuviz-landscape", n).run(tasks)

    def _each_point(self, start: int, end: int, point: Callable[[_PointModule, int], None]) -> None:
        """`point(replica, i)` for i in start..end on the workers, each taking the next point when
        done with one (a worker the machine holds up leaves its points to the others)."""
        n = self._worker_count(end - start)
        replicas = self._replicas_for(n)
        if n == 1:
            for i in range(start, end):
                point(replicas[0], i)
            return
        taken = iter(range(start, end))
        lock = threading.Lock()

        def work(r: _PointModule) -> None:
            while True:
                with lock:
                    i = next(taken, None)
                if i is None:
                    return
                point(r, i)

        shared_workers("gpuviz-landscape", n).run([lambda r=r: work(r) for r in replicas])

    def _run_pointwise(self, start: int, end: int, rows: Rows, write_point: WritePoint, out: torch.Tensor) -> None:
        """One plain forward per point, after `write_point(i, vector)` puts point i into a copy."""
        def point(r: _PointModule, i: int) -> None:
            write_point(i, r.point)
            out[i] = r.loss()

        self._each_point(start, end, point)

    def _run_first_layer(self, start: int, end: int, rows: Rows, write_point: WritePoint, out: torch.Tensor,
                         plane: _Plane) -> None:
        """As `_run_pointwise`, with the first layer's output combined from the plane's."""
        def point(r: _PointModule, i: int) -> None:
            write_point(i, r.point)
            out[i] = r.loss_with_first(plane.first, plane.coords[i])

        self._each_point(start, end, point)

    def _run_vmap(self, start: int, end: int, rows: Rows, write_point: WritePoint, out: torch.Tensor) -> None:
        """vmap over blocks of points: on the device in chunks that fit its memory, or on the
        CPU's workers, each on its own module copy."""
        if self.device.type != "cpu":
            chunk = self._memory_chunk()
            for a in range(start, end, chunk):
                b = min(end, a + chunk)
                out[a:b] = self._batched(self.layout.unflatten(rows(a, b)))
            return
        block_size = min(CPU_MAX_CHUNK, self._memory_chunk())

        def block(r: _PointModule, a: int, b: int) -> None:
            for s in range(a, b, block_size):
                e = min(b, s + block_size)
                out[s:e] = r.batched(self.layout.unflatten(rows(s, e)))

        self._on_workers(start, end, block)

    def chunk(self) -> int:
        """Points per call: what vmap fits in the memory budget (capped on the CPU); on the CPU,
        while the strategy is to be measured or evaluates point by point, a full CPU chunk
        (one plain forward per worker at a time needs no more memory)."""
        if self._chunk is not None:
            return self._chunk
        if self.device.type == "cpu" and (self.forced is None and not self.timings or self.pointwise
                                          or self._choice(STRATEGIES) == "first-layer"):
            return CPU_MAX_CHUNK
        return self._memory_chunk()

    def _memory_chunk(self) -> int:
        if self._chunk is not None:
            return self._chunk
        if self._fitted is None:
            self._fitted = self._fit_chunk()
        return self._fitted

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
    """A copy of the module whose parameters are views of one vector, `point`; one worker's.

    `loss()` is the loss at `point` (its batch norms folded by the evaluator where they can be:
    see `folding`); `loss_with_first` the same with the first layer's output combined from a plane's (the
    first layer, which it replaces, is never folded); `batched(params)` the losses at a block of
    points (vmap over functional_call on this copy, so workers never share a module)."""

    def __init__(self, module: nn.Module, layout: ParamLayout, loss_fn: Callable, x: torch.Tensor,
                 y: torch.Tensor) -> None:
        self.module = copy.deepcopy(module)
        self.point = layout.flatten(self.module)
        for slot, p in zip(layout.slots, self.module.parameters()):
            p.data = self.point[slot.offset : slot.offset + slot.numel].view(slot.shape)
        self.loss_fn, self.x, self.y = loss_fn, x, y
        self.batched = vmap(lambda params: loss_fn(functional_call(self.module, params, (self.x,)), y))
        self._first_out: torch.Tensor | None = None  # reused between points

    def loss(self) -> torch.Tensor:
        return self.loss_fn(self.module(self.x), self.y)

    def loss_with_first(self, plane: FirstLayerPlane, coords: list[float]) -> torch.Tensor:
        """The loss at `point`, whose first layer's output is the plane's at `coords`."""
        out = self._first_out = plane.combine(coords, self._first_out)
        layer = self.module.get_submodule(plane.name)
        layer.forward = lambda *args, **kwargs: out  # an instance attribute: the class's forward is kept
        try:
            return self.loss()
        finally:
            del layer.forward

    def load_buffers(self, buffers: dict[str, torch.Tensor]) -> None:
        for name, b in self.module.named_buffers():
            if name in buffers:
                b.copy_(buffers[name])
