"""A user's training script as a run source: run with `runpy` on the thread that calls `run`.

`gpuviz_app.attach` inside the script binds to this source (see `core.attached_run`), so the
script's model gets the same `ProbeHost`, `ProbeDemand`, `Mailbox` and `Snapshot`s as the
built-in `TrainingSession`. Everything happens at `viz.step`, on the script's own thread:
commands are applied there, Pause waits there, Stop and `max_steps` raise `StopScript` there
(the script's `finally` blocks run), and snapshots are published there, either at most
`publish_hz` times a second (live display) or every `publish_every` steps with the probes
settled first (headless output, the same on every run). Running the file is what the user
asked for by naming it; nothing else executes it.
"""

from __future__ import annotations

import logging
import os
import runpy
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

from gpuviz_app.core.attached_run import AttachedRun, StopScript, hosting
from gpuviz_app.core.command_queue import CommandQueue
from gpuviz_app.core.commands import Configure, Reset, SetDataset
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.mailbox import Mailbox
from gpuviz_app.core.probe_demand import ProbeDemand
from gpuviz_app.core.probe_host import ProbeHost
from gpuviz_app.core.probes import ProbeFactory
from gpuviz_app.core.snapshot import Snapshot

log = logging.getLogger(__name__)

FINAL_SETTLE_S = 30.0  # at most this long for probes to finish on a run's final weights


class ScriptFailed(Exception):
    """The script raised: `summary` is one line naming the script and the exception."""

    def __init__(self, summary: str, details: str) -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = details


class ScriptSource(CommandQueue):
    """Runs `script` with `argv` and publishes the runs it attaches.

    `on_publish(snapshot)` is called on the script's thread after each publish (the headless
    runner renders frames there). After `run` returns, `error` holds the one-line reason when the
    script raised (`failure` the traceback too), `attached` tells whether it ever attached.
    Commands are applied, and Stop honoured, at the script's next `viz.step`; Reset, Configure
    and SetDataset cannot change a user's script and are ignored."""

    def __init__(
        self,
        script: str | os.PathLike,
        argv: Sequence[str] = (),
        probes: dict[str, ProbeFactory] | None = None,
        max_steps: int | None = None,
        publish_hz: float = 60.0,
        publish_every: int | None = None,
        on_publish: Callable[[Snapshot], None] | None = None,
        demand: ProbeDemand | None = None,
    ) -> None:
        super().__init__()
        self._handlers.update({Reset: self._ignore, Configure: self._ignore, SetDataset: self._ignore})
        self.script = Path(script)
        self.argv = list(argv)
        self.mailbox: Mailbox[Snapshot] = Mailbox()
        factories = dict(probes or {})
        self.demand = demand if demand is not None else ProbeDemand(shown=factories)
        self.probe_host = ProbeHost(factories, self.demand)
        self.max_steps = max_steps
        self.publish_interval = 1.0 / publish_hz if publish_hz > 0 else float("inf")
        self.publish_every = publish_every
        self.on_publish = on_publish
        self.finished = False
        self.error = ""
        self.failure: ScriptFailed | None = None
        self.attached = False
        self.run_id = 0
        self.steps_per_s = 0.0
        self.current: AttachedRun | None = None
        self._last_publish = 0.0
        self._published_step = -1
        self._step_end = 0.0
        self._rate_steps, self._rate_time = 0, 0.0

    # -- the script (the calling thread) ---------------------------------------------------
    def run(self) -> None:
        """Run the script to its end, to `max_steps`, or until `stop`."""
        saved_argv, saved_path = sys.argv, list(sys.path)
        sys.argv = [str(self.script), *self.argv]
        sys.path.insert(0, str(self.script.resolve().parent))
        try:
            with hosting(self):
                runpy.run_path(str(self.script), run_name="__main__")
        except StopScript:
            pass
        except SystemExit as exc:
            if exc.code not in (None, 0):
                self._failed(f"{self.script} exited with status {exc.code}")
        except Exception as exc:  # noqa: BLE001 - the script's failure is shown, never raised on
            self._failed(f"{self.script} raised {type(exc).__name__}: {exc}")
        finally:
            sys.argv, sys.path[:] = saved_argv, saved_path
            if self.current is not None and not self.current.closed and self.failure is None:
                self.unbind(self.current)  # a script that ends without `viz.close()`
            self.probe_host.close()
            self.finished = True
            if self.attached:
                if self.current is not None:
                    self.current.flush()  # a script that raised: the steps before the error still count
                self.mailbox.put(self._snapshot(self.current))

    def _failed(self, summary: str) -> None:
        details = traceback.format_exc()
        self.failure = ScriptFailed(summary, details)
        self.error = summary
        log.error("%s", summary)

    # -- RunHost: called from `viz.step` --------------------------------------------------
    def bind(self, run: AttachedRun) -> None:
        if self.current is not None and not self.current.closed:
            self.unbind(self.current)
        self.current = run
        self.attached = True
        self.run_id += 1
        self.finished = False
        self._drain_commands()
        self.probe_host.start_run(run.context)
        self._publish(run, settle=self.publish_every is not None)
        self._step_end = time.perf_counter()

    def after_step(self, run: AttachedRun) -> None:
        now = time.perf_counter()
        elapsed = now - self._step_end
        self.demand.add_training_time(elapsed)
        self._rate_steps += 1
        self._rate_time += elapsed
        commanded = self._drain_commands()
        last = self.max_steps is not None and run.step_count >= self.max_steps
        if last:
            self._finish(run)
            raise StopScript()
        if self._stop.is_set():
            raise StopScript()
        if self.publish_every is not None:
            if run.step_count % self.publish_every == 0:
                self._publish(run, settle=True)
        elif commanded or now - self._last_publish >= self.publish_interval:
            self._publish(run, force=commanded)  # a pause, a shown view: at once, not at the next due time
        self._hold(run)
        self._step_end = time.perf_counter()

    def unbind(self, run: AttachedRun) -> None:
        if run is self.current and not self.finished:
            self._finish(run)

    def _finish(self, run: AttachedRun) -> None:
        """The run ended: probes settle on the final weights, one last snapshot."""
        self.finished = True
        deadline = time.perf_counter() + FINAL_SETTLE_S
        while not self._stop.is_set() and time.perf_counter() < deadline:
            if self.probe_host.settle(run.context, 0.1, final=True):
                break
        self._publish(run, settle=False, force=True)

    def _hold(self, run: AttachedRun) -> None:
        """While paused, wait here (publishing when commands arrive); Step lets one step through."""
        if self._single_steps:
            self._single_steps -= 1
            return
        if self.paused and not self._stop.is_set() and self._published_step != run.step_count:
            self._publish(run, force=True)  # the step a pause or a single step stopped at is shown
        while self.paused and not self._stop.is_set():
            self._wake.wait(0.05)
            self._wake.clear()
            if self._drain_commands():
                self._publish(run, force=True)
            if self._single_steps:
                self._single_steps -= 1
                return

    # -- snapshots --------------------------------------------------------------------------
    def _publish(self, run: AttachedRun, settle: bool = False, force: bool = False) -> None:
        run.flush()
        if settle:
            self.probe_host.settle(run.context, final=False)
        if settle or force:
            self.demand.force()
        self.probe_host.collect(run.context)
        if self._rate_time >= 0.25:
            rate = self._rate_steps / self._rate_time
            self.steps_per_s = rate if not self.steps_per_s else 0.7 * self.steps_per_s + 0.3 * rate
            self._rate_steps, self._rate_time = 0, 0.0
        snapshot = self._snapshot(run)
        self.mailbox.put(snapshot)
        self._last_publish = time.perf_counter()
        self._published_step = run.step_count
        if self.on_publish is not None:
            self.on_publish(snapshot)

    def _snapshot(self, run: AttachedRun | None) -> Snapshot:
        if run is None:
            return Snapshot(run_id=0, step=0, wall_time=time.time(), metrics=MetricsHistory(capacity=2),
                            latest={}, error=self.error, finished=True)
        event = None
        if run.device.type == "cuda":
            import torch

            event = torch.cuda.Event()
            event.record()
        diverged_step = run.nonfinite_loss[0] if run.nonfinite_loss else None
        return Snapshot(
            run_id=self.run_id, step=run.step_count, wall_time=time.time(), metrics=run.history,
            latest=run.latest(), parts=dict(self.probe_host.parts), versions=dict(self.probe_host.versions),
            event=event, device=str(run.device), device_name=run.device_name,
            dataset=self.script.name, steps_per_s=self.steps_per_s, paused=self.paused, finished=self.finished,
            model=run.name, error=self.error, diverged_step=diverged_step, diverged=run.diverged,
        )
