"""The training session: owns the loop that a worker thread runs, and takes commands.

The display talks to it only through thread-safe commands and reads it only through the
mailbox, so the loop never waits for rendering. Everything torch happens inside `run`,
on the worker thread, which keeps torch off the window's start-up path.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from gpuviz_app.core.command_queue import CommandQueue
from gpuviz_app.core.commands import Configure, Reset, SetDataset
from gpuviz_app.core.mailbox import Mailbox
from gpuviz_app.core.probe_demand import ProbeDemand
from gpuviz_app.core.probe_host import ProbeHost
from gpuviz_app.core.probes import Probe, ProbeFactory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.data.dataset import Dataset

log = logging.getLogger(__name__)

DatasetSource = Callable[[], Dataset]
FINAL_SETTLE_S = 30.0  # at most this long for probes to finish on a run's final weights


class TrainingSession(CommandQueue):
    """Train until stopped or `max_steps`, publishing snapshots at most `publish_hz` times a second.

    The in-process trainer as a run source (see `gpuviz_app.sources.base.RunSource`). Commands
    (`send`, or the convenience methods of `CommandMethods`) are applied in order between
    training slices; whether a probe runs is decided by `demand` only.

    Divergence: when a training loss (checked on the host copy each publish makes) or a weight
    (one device reduction per publish) turns non-finite, `diverged_step` and `diverged` say
    when and what, and, with `pause_on_divergence`, the run pauses; resuming
    (`set_paused(False)`) keeps training anyway, and only a new run pauses again."""

    def __init__(
        self,
        dataset: DatasetSource,
        config: Any = None,
        device: str = "auto",
        max_steps: int | None = None,
        publish_hz: float = 60.0,
        probes: dict[str, ProbeFactory] | None = None,
        slice_s: float = 1 / 120,
        active: set[str] | None = None,
        demand: ProbeDemand | None = None,
        pause_on_divergence: bool = True,
        rest_when_shown: bool = False,
    ) -> None:
        problems = config.problems() if config is not None else {}
        if problems:
            raise ValueError("; ".join(f"{name}: {why}" for name, why in problems.items()))
        super().__init__()
        self.mailbox: Mailbox[Snapshot] = Mailbox()
        self._dataset_source = dataset
        self._config = config
        self._device_choice = device
        self.max_steps = max_steps
        self.publish_interval = 1.0 / publish_hz
        self.slice_s = slice_s
        factories = dict(probes or {})
        self.demand = demand if demand is not None else ProbeDemand()
        self.demand.set_shown(factories if active is None else active)
        self.probe_host = ProbeHost(factories, self.demand, rest_when_shown)  # (see ProbeHost)
        self.finished = False
        self.error = ""
        self.pause_on_divergence = pause_on_divergence
        self.diverged_step: int | None = None
        self.diverged = ""
        self._finite_checked_at = -1
        self._unsettled_since: float | None = None  # idle with probes' work still going
        self.run_id = 0
        self.trainer: Any = None
        self.dataset: Dataset | None = None
        self.steps_per_s = 0.0
        self._handlers.update({Reset: self._reset, Configure: self._configure, SetDataset: self._set_dataset})

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def probes(self) -> dict[str, Probe]:
        """The current run's probes by name (empty before the run starts and after `close`)."""
        return self.probe_host.probes

    _probes = probes  # the name older callers read

    # -- the loop (worker thread) -----------------------------------------------------
    def run(self, until_finished: bool = False) -> None:
        """The loop; returns when stopped (or, with `until_finished`, once max_steps is reached)."""
        try:
            self._start()
        except Exception as exc:  # noqa: BLE001 - a failed start is shown, never raised into Qt
            log.exception("training could not start")
            self.error = f"training could not start: {exc}"
            self.mailbox.put(self._empty_snapshot())
            return
        try:
            self._loop(until_finished)
        finally:
            self.close()

    def _loop(self, until_finished: bool) -> None:
        last_publish = 0.0
        while not self._stop.is_set():
            try:
                dirty = self._drain_commands()
                if self.finished and until_finished:
                    return
                idle = self.finished or (self.paused and not self._single_steps)
                if idle:
                    if dirty or self._settling_while_idle():
                        self.demand.force()
                        self._publish()
                        if dirty and self._unsettled_since is None:
                            self._unsettled_since = time.perf_counter()  # follow what the command started
                    self._wake.wait(0.05)
                    self._wake.clear()
                    continue
                self._train_slice()
                if self.finished:
                    self._settle_final()
            except Exception as exc:  # noqa: BLE001 - keep the app alive, show why training stopped
                log.exception("training failed")
                self.error = f"training paused: {exc}"
                self.paused = True
                self._publish()
                continue
            now = time.perf_counter()
            if now - last_publish >= self.publish_interval or self.finished or self.paused:
                self._publish()
                last_publish = now

    def advance(self, steps: int, settle: bool = False) -> Snapshot:
        """Synchronous use (headless recording): train exactly `steps` steps, then publish
        a snapshot with every shown probe recomputed; with `settle`, probes with background
        work finish it first, so the snapshot does not depend on timing."""
        if self.trainer is None:
            self._start()
        self._drain_commands()
        host = self.probe_host
        if host.closed:
            host.make(self.trainer.context)
        host.make_rest()  # no first frame to hurry here
        t = self.trainer
        for _ in range(steps):
            if self.max_steps is not None and t.step_count >= self.max_steps:
                self.finished = True
                break
            t.step()
        if self.max_steps is not None and t.step_count >= self.max_steps:
            self.finished = True
        if settle:
            host.settle(t.context, final=self.finished)
        self.demand.force()
        self._publish()
        return self.mailbox.peek()

    def _settle_final(self) -> None:
        """The run just ended: probes finish on the final weights (the loss surface re-centres
        there) before the last snapshot, in short waits so that a stop or a command is not held up."""
        deadline = time.perf_counter() + FINAL_SETTLE_S
        while not self._stop.is_set() and self._commands.empty() and time.perf_counter() < deadline:
            if self.probe_host.settle(self.trainer.context, 0.1, final=True):
                self._unsettled_since = None
                break
        else:
            self._unsettled_since = time.perf_counter()
        self.demand.force()

    def _settling_while_idle(self) -> bool:
        """While idle, after `_settle_final` gave up waiting or after a command (a re-centre while
        paused): publish the probes' progress at the usual rate until their work is done (the last
        publish shows it complete)."""
        since = self._unsettled_since
        if since is None or time.perf_counter() - since < self.publish_interval:
            return False
        done = self.probe_host.settle(self.trainer.context, 0.0, final=self.finished)
        self._unsettled_since = None if done else time.perf_counter()
        return True

    def close(self) -> None:
        """Let the probes stop what they started (background threads); the session may run again."""
        self.probe_host.close()

    def _start(self) -> None:
        from gpuviz_app.core.device import resolve_device

        self.device = resolve_device(self._device_choice)
        self._new_run(self._dataset_source())

    def _new_run(self, dataset: Dataset | None = None) -> None:
        """Start a fresh run; on failure the current run stays as it was."""
        from gpuviz_app.core.config import TrainConfig
        from gpuviz_app.core.device import device_name
        from gpuviz_app.core.trainer import Trainer
        from gpuviz_app.data.device import DeviceDataset

        config = self._config or TrainConfig()
        dataset = dataset or self.dataset
        data = DeviceDataset(dataset, self.device, seed=config.seed)
        trainer = Trainer(data, config)
        trainer.evaluate()
        self.trainer, self.dataset, self._config = trainer, dataset, config
        self.device_name = device_name(self.device)
        self.run_id += 1
        self.finished = False
        self.error = ""
        self.diverged_step, self.diverged, self._finite_checked_at = None, "", -1
        self.probe_host.start_run(trainer.context)
        self._rate_steps, self._rate_time = 0, 0.0
        self._publish()

    # -- what each command does (worker thread) ---------------------------------------
    def _reset(self, command: Reset) -> None:
        self._new_run()

    def _set_dataset(self, command: SetDataset) -> None:
        self._new_run(command.dataset)

    def _configure(self, command: Configure) -> None:
        changes = dict(command.changes)
        problems = self._config.with_changes(**changes).problems()
        bad = [name for name in changes if name in problems]
        if bad:  # refused whole, before anything changes; the loop shows why
            raise ValueError(f"{bad[0]} {changes[bad[0]]!r}: {problems[bad[0]]}")
        if {"model", "seed"} & changes.keys():
            previous = self._config
            self._config = previous.with_changes(**changes)
            try:
                self._new_run()
            except Exception:
                self._config = previous
                raise
            return
        t = self.trainer
        self._config = self._config.with_changes(**changes)
        if "lr" in changes:
            t.set_lr(changes["lr"])
        if "batch_size" in changes:
            t.set_batch_size(changes["batch_size"])
        if "optimizer" in changes:
            t.set_optimizer(changes["optimizer"])
        if "augment" in changes:
            t.config = t.config.with_changes(augment=changes["augment"])

    def _train_slice(self) -> None:
        t = self.trainer
        start = time.perf_counter()
        steps = 0
        while True:
            if self.max_steps is not None and t.step_count >= self.max_steps:
                self.finished = True
                break
            t.step()
            steps += 1
            if self._single_steps:
                self._single_steps -= 1
                if not self._single_steps:
                    break
            if time.perf_counter() - start >= self.slice_s:
                break
        elapsed = time.perf_counter() - start
        self.demand.add_training_time(elapsed)
        self._rate_steps += steps
        self._rate_time += elapsed

    def _publish(self) -> None:
        t = self.trainer
        t.flush()
        if self.diverged_step is None:
            self._check_divergence(t)
        self.probe_host.collect(t.context)
        if self._rate_time >= 0.25:
            rate = self._rate_steps / self._rate_time
            self.steps_per_s = rate if not self.steps_per_s else 0.7 * self.steps_per_s + 0.3 * rate
            self._rate_steps, self._rate_time = 0, 0.0
        self.mailbox.put(self._snapshot())

    def _check_divergence(self, t: Any) -> None:
        """Note the first non-finite loss or weight of this run, and pause if asked to."""
        if t.nonfinite_loss is not None:
            step, loss = t.nonfinite_loss
            what = "the loss is NaN" if loss != loss else "the loss is infinite"
        elif self._finite_checked_at != t.step_count and not t.weights_finite():
            step, what = t.step_count, "the weights are no longer finite"
        else:
            self._finite_checked_at = t.step_count
            return
        self.diverged_step = step
        self.diverged = f"training diverged at step {step}: {what}"
        log.info("%s", self.diverged)
        if self.pause_on_divergence:
            self.paused = True

    def _snapshot(self) -> Snapshot:
        t = self.trainer
        event = None
        if t.device.type == "cuda":
            import torch

            event = torch.cuda.Event()
            event.record()
        return Snapshot(
            run_id=self.run_id,
            step=t.step_count,
            wall_time=time.time(),
            metrics=t.history,
            latest=t.latest(),
            parts=dict(self.probe_host.parts),
            versions=dict(self.probe_host.versions),
            event=event,
            device=str(t.device),
            device_name=self.device_name,
            dataset=t.data.name,
            steps_per_s=self.steps_per_s,
            paused=self.paused,
            finished=self.finished,
            model=t.model_kind,
            error=self.error,
            config=t.config,
            diverged_step=self.diverged_step,
            diverged=self.diverged,
        )

    def _empty_snapshot(self) -> Snapshot:
        from gpuviz_app.core.history import MetricsHistory

        return Snapshot(run_id=0, step=0, wall_time=time.time(), metrics=MetricsHistory(capacity=2),
                        latest={}, error=self.error, finished=True)
