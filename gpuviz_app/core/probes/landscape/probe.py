"""The "landscape" probe: cheap on the training thread, the work happens in the background.

Each call copies the weights when they are needed (a new centre once the previous grid is
complete and the weights have drifted a set fraction of the grid's reach from its centre
or `recentre_every` steps have passed, or on demand through the "recentre" action; a path
point every few steps) and returns the latest finished or partial grid. The loss is
the run context's loss function on a fixed evaluation batch of its inputs and targets;
a run without either gets a payload that says so. `settle` waits for the background
work, for deterministic headless output; with `final` (the run ended, or a picture is
about to be exported) the grid is centred on the weights as they are then. `close` stops
the thread at the end of a run.
"""

from __future__ import annotations

import logging
import time

import torch

from gpuviz_app.core.probes.landscape.background import LandscapeComputer, Weights, default_share
from gpuviz_app.core.probes.landscape.evaluate import SurfaceEvaluator, evaluation_batch
from gpuviz_app.core.probes import Probe
from gpuviz_app.core.probes.landscape.payload import RECENTRE, LandscapeOptions, LandscapePayload
from gpuviz_app.core.run_context import RunContext

log = logging.getLogger(__name__)

PATH_HZ = 20.0  # path points per second of wall time, at most, while training live (times the budget scale)
MAX_PENDING = 4  # path points waiting to be measured before new ones are skipped


def missing_loss(context: RunContext) -> str:
    """Why the run has no loss surface ('' when it has one)."""
    if context.loss_fn is None:
        return "no loss surface: the run has no loss function"
    if context.targets is None:
        return "no loss surface: the run has no targets"
    return ""


class LandscapeProbe(Probe):
    name = "landscape"
    budget = 0.05

    def __init__(self, context: RunContext, options: LandscapeOptions | None = None,
                 share: float | None = None) -> None:
        self.options = options or LandscapeOptions()
        self.share = share
        self.computer: LandscapeComputer | None = None
        self._evaluator_key: tuple | None = None
        self._centre_step: int | None = None
        self._recentre_asked = False
        self._restart = False
        self._last_point_step = -1
        self._last_point_time = 0.0
        self._closed = False
        self.error = ""

    # -- options (training thread, between steps) ----------------------------------------------
    def configure(self, options: dict) -> None:
        new = self.options.with_changes(options)
        if new == self.options:
            return
        changed = {k for k in vars(new) if getattr(new, k) != getattr(self.options, k)}
        self.options = new
        if changed - {"recentre_every"}:
            self._restart = True

    def act(self, action: str) -> None:
        """`RECENTRE`: a new grid around the weights of the next call (unknown actions are ignored)."""
        if action == RECENTRE:
            self._recentre_asked = True

    @property
    def path_every(self) -> int:
        return max(1, self.options.recentre_every // 200) if self.options.recentre_every else 5

    # -- calls -----------------------------------------------------------------------------------
    def __call__(self, context: RunContext) -> LandscapePayload:
        missing = missing_loss(context)
        if missing:
            return LandscapePayload(state="error", message=missing, step=context.step)
        try:
            self._sync(context, live=True)
            return self.computer.latest().with_step(context.step)
        except Exception as exc:  # noqa: BLE001 - a failing view must not stop training
            log.exception("landscape probe failed")
            self.error = f"landscape failed: {exc}"
            return LandscapePayload(state="error", message=self.error, step=context.step)

    def settle(self, context: RunContext, timeout: float | None = None, final: bool = False) -> bool:
        """Hand over what is due, then wait until the background has finished it all.

        The newest path point is measured first, so a drift past the threshold re-centres
        here, not a frame later; `final` re-centres on the current weights unless the grid
        is already there."""
        if missing_loss(context):
            return True  # nothing to compute: the payload says why
        try:
            self._sync(context, live=False)
            if not self.computer.wait_idle(timeout):
                return False
            if final and self._centre_step != context.step:
                self._recentre_asked = True
            if self._recentre_due(context.step):
                self._sync(context, live=False)
        except Exception:  # noqa: BLE001 - the next call returns the reason as the payload
            log.exception("landscape probe failed")
            return False
        return self.computer.wait_idle(timeout)

    def cancel(self) -> None:
        if self.computer is not None:
            self.computer.cancel()

    def close(self) -> None:
        self._closed = True
        if self.computer is not None:
            self.computer.close()

    # -- internals -------------------------------------------------------------------------------
    def _sync(self, context: RunContext, live: bool) -> None:
        if self._closed:
            raise RuntimeError("the landscape probe was closed")
        self._ensure_computer(context)
        step = context.step
        computer = self.computer
        if self._recentre_due(step):
            self._restart = False
            self._recentre_asked = False
            self._centre_step = self._last_point_step = step
            self._last_point_time = time.perf_counter()
            computer.recentre(self._copy(context, buffers=True))
            return
        if step - self._last_point_step < self.path_every:
            return
        now = time.perf_counter()
        path_hz = PATH_HZ * context.budget_scale
        if live and (now - self._last_point_time < 1.0 / path_hz or computer.pending_points() >= MAX_PENDING):
            return
        self._last_point_step, self._last_point_time = step, now
        computer.add_point(self._copy(context))

    def _recentre_due(self, step: int) -> bool:
        """A new centre now: none yet, new options, asked for, or (once the current grid is
        complete) the weights have drifted far enough or `recentre_every` steps have passed."""
        if self._centre_step is None or self._restart or self._recentre_asked:
            return True
        opts, computer = self.options, self.computer
        if step == self._centre_step or not computer.grid_done():
            return False
        if opts.recentre_drift > 0 and computer.drift() >= opts.recentre_drift:
            return True
        return opts.recentre_every > 0 and step - self._centre_step >= opts.recentre_every

    def _ensure_computer(self, context: RunContext) -> None:
        key = (id(context), self.options.eval_batch)
        if self.computer is not None and key == self._evaluator_key:
            return
        if self.computer is not None:
            self.computer.close()
        x, y = evaluation_batch(context, self.options.eval_batch)
        evaluator = SurfaceEvaluator(context.model, context.loss_fn, x, y)
        share = self.share if self.share is not None else default_share(evaluator.device) * context.budget_scale
        self.computer = LandscapeComputer(evaluator, share=share, activity=lambda: context.step)
        self._evaluator_key = key
        self._centre_step = None

    def _copy(self, context: RunContext, buffers: bool = False) -> Weights:
        """A copy of the weights now; on CUDA an event marks when the copy is done."""
        layout = self.computer.evaluator.layout
        flat = layout.flatten(context.model)
        saved = {n: b.detach().clone() for n, b in context.model.named_buffers()} if buffers else None
        event = None
        if flat.device.type == "cuda":
            event = torch.cuda.Event()
            event.record()
        return Weights(step=context.step, flat=flat, event=event, buffers=saved,
                       options=self.options if buffers else None)


def landscape_probe(context: RunContext) -> LandscapeProbe:
    return LandscapeProbe(context)
