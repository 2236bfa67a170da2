"""The training session: owns the loop that a worker thread runs, and takes commands.

The display talks to it only through thread-safe commands and reads it only through the
mailbox, so the loop never waits for rendering. Everything torch happens inside `run`,
on the worker thread, which keeps torch off the window's start-up path.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable

from gpuviz_app.core.mailbox import Mailbox
from gpuviz_app.core.probe_demand import ProbeScheduler
from gpuviz_app.core.probes import ProbeFactory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.data.dataset import Dataset

log = logging.getLogger(__name__)

DatasetSource = Callable[[], Dataset]


class TrainingSession:
    """Train until stopped or `max_steps`, publishing snapshots at most `publish_hz` times a second."""

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
    ) -> None:
        self.mailbox: Mailbox[Snapshot] = Mailbox()
        self._dataset_source = dataset
        self._config = config
        self._device_choice = device
        self.max_steps = max_steps
        self.publish_interval = 1.0 / publish_hz
        self.slice_s = slice_s
        self._probe_factories: dict[str, ProbeFactory] = dict(probes or {})
        self._probe_options: dict[str, dict] = {}
        self._probes: dict[str, Any] = {}
        self._probes_closed = False
        self._active: set[str] = set(self._probe_factories) if active is None else set(active)
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._paced = False  # probes wait for the display's request (`want_probes`)
        self._probes_wanted = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.paused = False
        self.finished = False
        self.error = ""
        self._single_steps = 0
        self.run_id = 0
        self.trainer: Any = None
        self.dataset: Dataset | None = None
        self.steps_per_s = 0.0

    # -- commands (any thread) ------------------------------------------------------
    def _send(self, name: str, *args: Any) -> None:
        self._commands.put((name, args))
        self._wake.set()

    def set_paused(self, paused: bool) -> None:
        self._send("paused", bool(paused))

    def step_once(self, steps: int = 1) -> None:
        self._send("step_once", int(steps))

    def reset(self) -> None:
        self._send("reset")

    def configure(self, **changes: Any) -> None:
        """Change lr, batch_size or optimizer in place; model or seed restart the run."""
        self._send("configure", changes)

    def set_dataset(self, dataset: Dataset) -> None:
        self._send("dataset", dataset)

    def set_active_probes(self, names: set[str]) -> None:
        self._send("active", set(names))

    def configure_probe(self, name: str, options: dict) -> None:
        """Options for one probe (kept for the probes of later runs too)."""
        self._send("probe", name, dict(options))

    def pace_probes(self) -> None:
        """From now on, probes run (besides the forced runs on a new run or a command) only
        when the display asks with `want_probes`: a software-GL display drawing once a second
        would otherwise get 30 payloads a second it never shows, each paid for by training."""
        self._paced = True

    def want_probes(self) -> None:
        """The display will draw soon: the next snapshot may carry fresh probe payloads."""
        self._probes_wanted.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

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
                    if dirty:
                        self._publish(force_probes=True)
                    self._wake.wait(0.05)
                    self._wake.clear()
                    continue
                self._train_slice()
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
        a snapshot with every active probe recomputed; with `settle`, probes with background
        work finish it first, so the snapshot does not depend on timing."""
        if self.trainer is None:
            self._start()
        self._drain_commands()
        if self._probes_closed:
            self._make_probes()
        t = self.trainer
        for _ in range(steps):
            if self.max_steps is not None and t.step_count >= self.max_steps:
                self.finished = True
                break
            t.step()
        if self.max_steps is not None and t.step_count >= self.max_steps:
            self.finished = True
        if settle:
            for name in sorted(self._active & self._probes.keys()):
                settle_probe = getattr(self._probes[name], "settle", None)
                if settle_probe is not None:
                    settle_probe(t)
        self._publish(force_probes=True)
        return self.mailbox.peek()

    def close(self) -> None:
        """Let the probes stop what they started (background threads); the session may run again."""
        for probe in self._probes.values():
            close = getattr(probe, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing must not hide the reason training stopped
                    log.exception("closing a probe failed")
        self._probes = {}
        self._probes_closed = True

    def _start(self) -> None:
        from gpuviz_app.core.device import resolve_device

        self.device = resolve_device(self._device_choice)
        self._new_run(self._dataset_source())

    def _new_run(self, dataset: Dataset | None = None) -> None:
        """Start a fresh run; on failure the current run stays as it was."""
        from gpuviz_app.core.device import device_name
        from gpuviz_app.core.config import TrainConfig
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
        self._scheduler = ProbeScheduler()
        self.close()
        self._make_probes()
        self._parts: dict[str, Any] = {}
        self._versions: dict[str, int] = {}
        self._rate_steps, self._rate_time = 0, 0.0
        self._publish(force_probes=True)

    def _make_probes(self) -> None:
        """Fresh probes for the current run, with the options the views asked for."""
        self._probes = {name: f(self.trainer) for name, f in self._probe_factories.items()}
        self._probes_closed = False
        for name, options in self._probe_options.items():
            self._configure_probe(name, options)
        self._tell_probes_shown()

    def _tell_probes_shown(self) -> None:
        """Probes that work between snapshots (the weights recorder) learn whether their view is
        on screen, so they can stop paying for it while hidden."""
        for name, probe in self._probes.items():
            set_shown = getattr(probe, "set_shown", None)
            if set_shown is not None:
                set_shown(name in self._active)

    def _drain_commands(self) -> bool:
        dirty = False
        while True:
            try:
                name, args = self._commands.get_nowait()
            except queue.Empty:
                return dirty
            dirty = True
            self._apply(name, *args)

    def _apply(self, name: str, *args: Any) -> None:
        t = self.trainer
        if name == "paused":
            self.paused = args[0]
        elif name == "step_once":
            self.paused = True
            self._single_steps += args[0]
        elif name == "reset":
            self._new_run()
        elif name == "dataset":
            self._new_run(args[0])
        elif name == "active":
            self._active = args[0]
            self._tell_probes_shown()
        elif name == "probe":
            probe_name, options = args
            self._probe_options[probe_name] = {**self._probe_options.get(probe_name, {}), **options}
            self._configure_probe(probe_name, options)
        elif name == "configure":
            changes = dict(args[0])
            if {"model", "seed"} & changes.keys():
                previous = self._config
                self._config = previous.with_changes(**changes)
                try:
                    self._new_run()
                except Exception:
                    self._config = previous
                    raise
                return
            self._config = self._config.with_changes(**changes)
            if "lr" in changes:
                t.set_lr(changes["lr"])
            if "batch_size" in changes:
                t.set_batch_size(changes["batch_size"])
            if "optimizer" in changes:
                t.set_optimizer(changes["optimizer"])
            if "augment" in changes:
                t.config = t.config.with_changes(augment=changes["augment"])

    def _configure_probe(self, name: str, options: dict) -> None:
        configure = getattr(self._probes.get(name), "configure", None)
        if configure is not None:
            configure(options)

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
        self._scheduler.add_training_time(elapsed)
        self._rate_steps += steps
        self._rate_time += elapsed

    def _publish(self, force_probes: bool = False) -> None:
        t = self.trainer
        t.flush()
        now = time.perf_counter()
        wanted = force_probes or not self._paced or self._probes_wanted.is_set()
        ran = False
        for name in sorted(self._active & self._probes.keys()):
            probe = self._probes[name]
            if wanted and self._scheduler.due(probe, now, force=force_probes):
                self._parts[name] = self._scheduler.run(probe, t)
                self._versions[name] = self._versions.get(name, 0) + 1
                ran = True
        if ran and not force_probes:
            self._probes_wanted.clear()
        if self._rate_time >= 0.25:
            rate = self._rate_steps / self._rate_time
            self.steps_per_s = rate if not self.steps_per_s else 0.7 * self.steps_per_s + 0.3 * rate
            self._rate_steps, self._rate_time = 0, 0.0
        self.mailbox.put(self._snapshot())

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
            parts=dict(self._parts),
            versions=dict(self._versions),
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
        )

    def _empty_snapshot(self) -> Snapshot:
        from gpuviz_app.core.history import MetricsHistory

        return Snapshot(run_id=0, step=0, wall_time=time.time(), metrics=MetricsHistory(capacity=2),
                        latest={}, error=self.error, finished=True)
