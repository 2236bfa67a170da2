"""The "landscape" probe: cheap on the training thread, the work happens in the background.

Each call copies the weights when they are needed (a new centre every `recentre_every`
steps once the previous grid is complete, or on demand; a path point every few steps) and
returns the latest finished or partial grid. `settle` waits for the background work, for
deterministic headless output; `close` stops the thread at the end of a run.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from gpuviz_app.core.landscape.background import LandscapeComputer, Weights
from gpuviz_app.core.landscape.evaluate import SurfaceEvaluator, evaluation_batch
from gpuviz_app.core.landscape.payload import LandscapeOptions, LandscapePayload

log = logging.getLogger(__name__)

PATH_HZ = 20.0  # path points per second of wall time, at most, while training live
MAX_PENDING = 4  # path points waiting to be measured before new ones are skipped


class LandscapeProbe:
    name = "landscape"
    budget = 0.05

    def __init__(self, trainer: Any, options: LandscapeOptions | None = None, share: float | None = None) -> None:
        self.options = options or LandscapeOptions()
        self.share = share
        self.computer: LandscapeComputer | None = None
        self._evaluator_key: tuple | None = None
        self._centre_step: int | None = None
        self._recentre_token = self.options.recentre
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

    @property
    def path_every(self) -> int:
        return max(1, self.options.recentre_every // 200) if self.options.recentre_every else 5

    # -- calls -----------------------------------------------------------------------------------
    def __call__(self, trainer: Any) -> LandscapePayload:
        try:
            self._sync(trainer, live=True)
            return self.computer.latest().with_step(trainer.step_count)
        except Exception as exc:  # noqa: BLE001 - a failing view must not stop training
            log.exception("landscape probe failed")
            self.error = f"landscape failed: {exc}"
            return LandscapePayload(state="error", message=self.error, step=trainer.step_count)

    def settle(self, trainer: Any, timeout: float | None = None) -> bool:
        """Hand over what is due, then wait until the background has finished it all."""
        try:
            self._sync(trainer, live=False)
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
    def _sync(self, trainer: Any, live: bool) -> None:
        if self._closed:
            raise RuntimeError("the landscape probe was closed")
        self._ensure_computer(trainer)
        step = trainer.step_count
        opts = self.options
        computer = self.computer
        due = (
            self._centre_step is None
            or self._restart
            or opts.recentre != self._recentre_token
            or (opts.recentre_every > 0 and step - self._centre_step >= opts.recentre_every
                and computer.grid_done())
        )
        if due:
            self._restart = False
            self._recentre_token = opts.recentre
            self._centre_step = self._last_point_step = step
            self._last_point_time = time.perf_counter()
            computer.recentre(self._copy(trainer, buffers=True))
            return
        if step - self._last_point_step < self.path_every:
            return
        now = time.perf_counter()
        if live and (now - self._last_point_time < 1.0 / PATH_HZ or computer.pending_points() >= MAX_PENDING):
            return
        self._last_point_step, self._last_point_time = step, now
        computer.add_point(self._copy(trainer))

    def _ensure_computer(self, trainer: Any) -> None:
        key = (id(trainer), self.options.eval_batch)
        if self.computer is not None and key == self._evaluator_key:
            return
        if self.computer is not None:
            self.computer.close()
        x, y = evaluation_batch(trainer.data, self.options.eval_batch)
        evaluator = SurfaceEvaluator(trainer.model, trainer.loss_fn, x, y)
        self.computer = LandscapeComputer(evaluator, share=self.share, activity=lambda: trainer.step_count)
        self._evaluator_key = key
        self._centre_step = None

    def _copy(self, trainer: Any, buffers: bool = False) -> Weights:
        """A copy of the weights now; on CUDA an event marks when the copy is done."""
        layout = self.computer.evaluator.layout
        flat = layout.flatten(trainer.model)
        saved = {n: b.detach().clone() for n, b in trainer.model.named_buffers()} if buffers else None
        event = None
        if flat.device.type == "cuda":
            event = torch.cuda.Event()
            event.record()
        return Weights(step=trainer.step_count, flat=flat, event=event, buffers=saved,
                       options=self.options if buffers else None)


def landscape_probe(trainer: Any) -> LandscapeProbe:
    return LandscapeProbe(trainer)
