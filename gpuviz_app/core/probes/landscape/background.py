"""The thread that computes loss surfaces while training goes on.

The training thread hands over copies of the weights (a new centre, or a point of the
path) and never waits; this thread measures the path's losses first, then refines the grid
one chunk of points at a time, publishing a coarse picture as soon as the first level is
complete. On the CPU it evaluates on one worker (one torch thread each) and sleeps between
chunks so that it uses at most `share` of the time; on CUDA it works on its own stream. While training
is paused (or somebody waits for the result) it works at full speed, on one worker per core. Errors become
a message in the payload; the thread lives on for the next centre.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import torch

from gpuviz_app.core.cpu_workers import set_threads_here
from gpuviz_app.core.exit_join import close_at_exit
from gpuviz_app.core.probes.landscape.evaluate import SurfaceEvaluator
from gpuviz_app.core.probes.landscape.levels import ProgressiveGrid, side
from gpuviz_app.core.probes.landscape.payload import LandscapeOptions, LandscapePayload
from gpuviz_app.core.probes.landscape.params import pca_directions, project, random_directions

log = logging.getLogger(__name__)

PATH_CAPACITY = 512
PUBLISH_S = 0.25  # a partial level is shown at most this often
IDLE_S = 0.5  # training that has not stepped for this long is paused: work at full speed


def default_share(device: torch.device) -> float:
    """The part of the time this thread works while training runs: a GPU has its own stream."""
    return 0.5 if torch.device(device).type == "cuda" else 0.15


@dataclass
class Weights:
    """A copy of the weights at `step`; `event` (CUDA) marks when the copy is complete."""

    step: int
    flat: torch.Tensor
    event: Any = None
    buffers: dict | None = None
    options: LandscapeOptions | None = None


@dataclass
class Job:
    centre: Weights
    options: LandscapeOptions
    mode: str
    directions: torch.Tensor
    grid: ProgressiveGrid
    span: tuple[float, float]
    labels: tuple[str, ...]
    centre_loss: float
    rows: list  # path: (alpha, beta, loss) float32 tensors of 3
    steps: list
    position: int = 0  # within the current level's points
    started: float = 0.0
    seconds: float = 0.0
    cancelled: bool = False
    message: str = ""
    reach: float = math.inf  # how far the grid reaches from its centre in weight space (the shorter axis)
    drift: float = 0.0  # distance of the newest path point from the centre, in units of `reach`
    scale: tuple[float, float] | None = None  # (low, clip) of the colours, set as levels complete

    @property
    def finished(self) -> bool:
        return self.grid.level >= len(self.grid.levels)


class LandscapeComputer:
    def __init__(self, evaluator: SurfaceEvaluator, share: float | None = None, workers: int = 1,
                 snapshot_bytes: int | None = None, on_publish: Callable[[LandscapePayload], None] | None = None,
                 activity: Callable[[], int] | None = None) -> None:
        self.evaluator = evaluator
        self.on_publish = on_publish
        # the training's step counter: while it stands still nobody needs protecting from this thread
        self.activity = activity
        self._seen_activity: tuple[int, float] | None = None
        self.device = evaluator.device
        cuda = self.device.type == "cuda"
        self.share = share if share is not None else default_share(self.device)
        self.workers = workers  # single-threaded CPU workers evaluating points, while training runs
        self.full_workers = torch.get_num_threads()  # ... and while it does not
        self.stream = torch.cuda.Stream(self.device) if cuda else None
        budget = snapshot_bytes or ((512 << 20) if cuda else (128 << 20))
        self.snapshot_capacity = int(max(3, min(64, budget // (4 * evaluator.layout.size))))
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._interrupt = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._request: Weights | None = None
        self._centre: Weights | None = None  # the newest centre handed over (its job may not have started)
        self._points: list[Weights] = []
        self._cancel = False
        self._closed = False
        self._rush = 0
        self._thread: threading.Thread | None = None
        close_at_exit(self)
        self._result = LandscapePayload(message="waiting for the first centre")
        self._job: Job | None = None
        self._snapshots: list[tuple[int, torch.Tensor, float]] = []
        self._picture: torch.Tensor | None = None
        self._grid_version = 0
        self._path_version = 0
        self._last_publish = 0.0

    # -- any thread ------------------------------------------------------------------------
    def latest(self) -> LandscapePayload:
        return self._result

    def recentre(self, centre: Weights) -> None:
        """Start a new grid around `centre` (the current one stops)."""
        self._submit(request=centre)

    def add_point(self, point: Weights) -> None:
        self._submit(point=point)

    def pending_points(self) -> int:
        return len(self._points)

    def cancel(self) -> None:
        with self._lock:
            self._cancel = True
            self._request = None
        self._wake.set()
        self._interrupt.set()

    def idle(self) -> bool:
        return self._idle.is_set()

    def drift(self) -> float:
        """How far the newest measured weights are from the current grid's centre, as a fraction
        of the grid's reach (0 before any point was measured)."""
        job = self._job
        return job.drift if job is not None and job.centre is self._centre else 0.0

    def grid_done(self) -> bool:
        """No centre waiting and the current grid complete (or cancelled); path points may still flow."""
        job = self._job
        if self._request is not None or (job is not None and job.centre is not self._centre):
            return False  # the newest centre's job has not started yet
        return job is None or job.finished or job.cancelled

    def wait_idle(self, timeout: float | None = None, unthrottled: bool = True) -> bool:
        """Wait until every submitted centre and point is done (at full speed when `unthrottled`)."""
        with self.unthrottled() if unthrottled else contextlib.nullcontext():
            return self._idle.wait(timeout)

    @contextlib.contextmanager
    def unthrottled(self) -> Iterator[None]:
        """Work at full speed, on every worker, for as long as the block runs."""
        with self._lock:
            self._rush += 1
        self._interrupt.set()
        try:
            yield
        finally:
            with self._lock:
                self._rush -= 1

    def close(self, timeout: float = 1.0) -> None:
        with self._lock:
            self._closed = True
        self._wake.set()
        self._interrupt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _submit(self, request: Weights | None = None, point: Weights | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            if request is not None:
                self._request = self._centre = request
                self._cancel = False
                self._interrupt.set()
            if point is not None:
                self._points.append(point)
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gpuviz-landscape", daemon=True)
                self._thread.start()
        self._wake.set()

    # -- the worker thread ---------------------------------------------------------------------
    def _run(self) -> None:
        ctx = torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()
        with ctx:
            while True:
                with self._lock:
                    if self._closed:
                        return
                    request, self._request = self._request, None
                    points, self._points = self._points, []
                    cancel, self._cancel = self._cancel, False
                    job = self._job
                    working = job is not None and not job.finished and not job.cancelled
                    waiting = request is None and not points and not working
                    if waiting:
                        self._idle.set()
                        self._wake.clear()
                    rush = self._rush > 0
                if waiting:
                    self._wake.wait()
                    continue
                self._step(request, points, cancel, rush)

    def _training_idle(self) -> bool:
        if self.activity is None:
            return False
        step, now = self.activity(), time.perf_counter()
        if self._seen_activity is None or self._seen_activity[0] != step:
            self._seen_activity = (step, now)
            return False
        return now - self._seen_activity[1] > IDLE_S

    def _step(self, request: Weights | None, points: list[Weights], cancel: bool, rush: bool) -> None:
        rush = rush or self._training_idle()
        self._interrupt.clear()  # a cancel or a new centre from now on cuts the pause below short
        if self.stream is None:
            # The points go to single-threaded workers; this thread itself stays on one torch
            # thread. A second OpenMP team in the process (this thread's, had it ever run with
            # two) makes libgomp stop spinning at barriers, which slowed training for good
            # after one pause.
            if torch.get_num_threads() != 1:
                set_threads_here(1)
            self.evaluator.workers = self.full_workers if rush else self.workers
        start = time.perf_counter()
        try:
            if request is not None:
                self._start(request)
            if points:
                self._measure(points)
            job = self._job
            if job is not None and cancel and not job.finished:
                job.cancelled = True
                self._publish(grid_changed=False)
            elif job is not None and not job.finished and not job.cancelled:
                changed = self._refine(job)
                now = time.perf_counter()
                partial = job.grid.level > 0 and now - self._last_publish >= PUBLISH_S
                if changed or job.finished or partial:
                    self._publish(grid_changed=True)
            elif points:
                self._publish(grid_changed=False)
            self._synchronize()
        except Exception as exc:  # noqa: BLE001 - shown in the view, never raised into training
            log.exception("loss landscape failed")
            self._job = self._centre = None
            self._result = replace(self._result, state="error", message=f"landscape failed: {exc}")
            return
        elapsed = time.perf_counter() - start
        if self._job is not None:
            self._job.seconds += elapsed
        if not rush and self.share < 1.0:
            self._interrupt.wait(elapsed * (1.0 - self.share) / self.share)

    def _synchronize(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()

    def _receive(self, w: Weights) -> None:
        if self.stream is not None and w.event is not None:
            self.stream.wait_event(w.event)
            for t in [w.flat, *(w.buffers or {}).values()]:
                t.record_stream(self.stream)

    def _start(self, centre: Weights) -> None:
        self._receive(centre)
        options = centre.options or LandscapeOptions()
        ev = self.evaluator
        if centre.buffers:
            ev.set_buffers(centre.buffers)
        centre_loss = ev.loss(centre.flat)
        self._remember(centre.step, centre.flat, centre_loss)
        layout, c = ev.layout, centre.flat
        mode, message = options.mode, ""
        labels: tuple[str, ...]
        rows, steps = [], []
        if mode == "pca":
            older = [s for s in self._snapshots if s[0] < centre.step]
            try:
                if len(older) < 2:
                    raise ValueError("the path has too few points for PCA yet")
                snaps = torch.stack([s[1] for s in older])
                mask = None if options.include_bias else layout.filter_mask(c.device)
                directions, explained = pca_directions(snaps, c, mask)
                coords = (snaps - c) @ directions.T
                losses = torch.stack([torch.as_tensor(s[2], device=c.device) for s in older]).float()
                rows = [torch.cat([coords[i], losses[i : i + 1]]) for i in range(len(older))]
                steps = [s[0] for s in older]
                reach = coords.abs().amax(dim=0).tolist()
                span = tuple(max(1.3 * r, 1e-3) for r in reach)
                share = explained.tolist()
                labels = (f"PC1 {100 * share[0]:.1f}%", f"PC2 {100 * share[1]:.1f}%")
            except ValueError as exc:
                mode, message = "random", f"{exc}: random directions for now"
        if mode != "pca":
            count = 1 if mode == "slice" else 2
            directions = random_directions(c, layout, count, options.seed, options.include_bias)
            span = (options.span, options.span)
            labels = ("dir (filter-norm.)",) if count == 1 else ("dir 1 (filter-norm.)", "dir 2 (filter-norm.)")
        dims = 1 if mode == "slice" else 2
        lengths = directions.norm(dim=1).tolist()
        reach = min(float(s) * d for s, d in zip(span, lengths)) if lengths else math.inf
        zeros = torch.zeros(2, device=c.device)
        rows.append(torch.cat([zeros, centre_loss.reshape(1).float()]))
        steps.append(centre.step)
        self._job = Job(centre=centre, options=options, mode=mode, directions=directions,
                        grid=ProgressiveGrid(options.resolution, dims, c.device), span=span, labels=labels,
                        centre_loss=float(centre_loss), rows=rows, steps=steps, started=time.perf_counter(),
                        message=message, reach=reach if reach > 0 else math.inf)

    def _remember(self, step: int, flat: torch.Tensor, loss: torch.Tensor) -> None:
        """Keep a bounded, evenly thinned record of the path for PCA."""
        if self._snapshots and self._snapshots[-1][0] >= step:
            return
        if len(self._snapshots) >= self.snapshot_capacity:
            self._snapshots = self._snapshots[::2]
        self._snapshots.append((step, flat, loss))

    def _measure(self, points: list[Weights]) -> None:
        for p in points:
            self._receive(p)
        flats = torch.stack([p.flat for p in points])
        losses = self.evaluator.losses(flats)
        for p, loss in zip(points, losses):
            self._remember(p.step, p.flat, loss)
        job = self._job
        if job is None:
            return
        keep = [i for i, p in enumerate(points) if p.step > job.centre.step]
        if not keep:
            return
        newest = flats[keep[-1]]
        job.drift = float((newest - job.centre.flat).norm()) / job.reach
        coords = project(flats[keep], job.centre.flat, job.directions)
        if coords.shape[1] == 1:
            coords = torch.cat([coords, torch.zeros_like(coords)], dim=1)
        for k, i in enumerate(keep):
            if len(job.rows) >= PATH_CAPACITY:
                job.rows, job.steps = job.rows[::2], job.steps[::2]
            job.rows.append(torch.cat([coords[k], losses[i : i + 1].float()]))
            job.steps.append(points[i].step)
        self._path_version += 1

    def _refine(self, job: Job) -> bool:
        """One chunk of the current level; True when the level became complete."""
        grid = job.grid
        idx = grid.level_indices(grid.level)
        chunk = idx[job.position : job.position + self.evaluator.chunk()]
        coords = grid.coords(chunk, job.span).to(self.device)
        grid.write(chunk, self.evaluator.plane_losses(job.centre.flat, job.directions, coords))
        job.position += len(chunk)
        if job.position >= len(idx):
            grid.finished_side = side(grid.n, grid.levels[grid.level])
            grid.level += 1
            job.position = 0
            job.scale = colour_scale(grid, job.centre_loss)
            return True
        return False

    def _publish(self, grid_changed: bool) -> None:
        job = self._job
        if job is None or job.grid.level == 0:
            return  # keep showing the previous grid until the new one has a first picture
        self._last_publish = time.perf_counter()
        grid = job.grid
        if grid_changed or self._picture is None:
            self._picture = grid.picture()
            self._grid_version += 1
        self._synchronize()
        low, clip = job.scale or colour_scale(grid, job.centre_loss)
        path = torch.stack(job.rows)
        state = "cancelled" if job.cancelled else ("done" if job.finished else "computing")
        self._result = LandscapePayload(
            mode=job.mode, state=state, grid=self._picture, resolution=grid.n,
            finished_side=grid.finished_side, progress=grid.done_points / grid.total_points,
            span=job.span, centre_step=job.centre.step, centre_loss=job.centre_loss,
            low=low, clip=clip, path=path, path_steps=tuple(job.steps),
            axis_labels=job.labels, eval_batch=len(self.evaluator.y), grid_version=self._grid_version,
            path_version=self._path_version, step=job.steps[-1], message=job.message, seconds=job.seconds,
        )
        if math.isnan(self._result.centre_loss):
            self._result = replace(self._result, message="the loss at the centre is not a number")
        if self.on_publish is not None:
            self.on_publish(self._result)


def colour_scale(grid: ProgressiveGrid, centre_loss: float) -> tuple[float, float]:
    """(low, clip): the colour and height range of a surface, from its computed points only.

    Divergent regions are clipped (at ten times the centre's loss or twice the median,
    whichever is higher); the path never widens the range, so a surface keeps its colours
    from frame to frame once its levels are complete.
    """
    known = grid.values[grid.known]
    finite = known[known < 1e30]
    if len(finite):
        low, high, median = (float(v) for v in torch.stack([finite.min(), finite.max(), finite.median()]))
    else:
        low = high = median = centre_loss
    clip = min(high, max(10.0 * centre_loss, 2.0 * median))
    if not clip > low:
        clip = low + max(abs(low) * 1e-3, 1e-6)
    return low, clip
