"""A script's side of watching it from another process: probes run here, only payloads cross.

`gpuviz_app.attach` makes a `RemoteSender` when no gpuviz hosts the script in its own process.
It is a `RunHost` like `sources.script.ScriptSource`: the same `ProbeHost` probes run on the
script's thread and device at `viz.step`; at most `publish_hz` times a second the snapshot is
encoded (`sources.wire`) and handed to a ZeroMQ XPUB socket connected to the window's address;
messages are spaced further apart when making them would take more than `MESSAGE_SHARE` (times
the run context's `budget_scale`) of the script's time (wall time: on a busy machine a send that
wakes other threads costs the loop more than its CPU time). The probes keep to budgets of their
own, capped at `PROBE_SHARE` each: here a payload also has to be encoded, sent and decoded on the
same machine, so each one costs the training more than beside an in-process display, and a
window shows what arrives.

The socket never makes the script wait: sends do not block, and with `XPUB_NODROP` a window
that does not keep up makes the send fail at the high-water mark, so that frame is dropped
(its metric rows go with the next one). The XPUB socket also says when a window subscribes:
only then do the probes run and messages get made, so a script with no window trains as if
gpuviz were not there, and a window that joins late is sent the run's whole metric history.
Each window also says which probes its views need (`sources.window_views`): only those run.
A weights payload whose earlier columns the windows hold already goes as its new columns only
(`sources.column_delta`), and whole again every `FULL_REFRESH_S`.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from gpuviz_app.core.attached_run import AttachedRun
from gpuviz_app.core.probe_demand import ProbeDemand
from gpuviz_app.core.probe_host import ProbeHost
from gpuviz_app.core.probes import PROBES, Probe, ProbeFactory, probe_factories
from gpuviz_app.core.probes.weights.payload import WeightsPayload
from gpuviz_app.sources.address import check_address, default_address, ipc_path, listening
from gpuviz_app.sources.column_delta import ColumnsSent, tail, unchanged_columns
from gpuviz_app.sources.cuda_slots import IpcExporter
from gpuviz_app.sources.window_views import WindowViews
from gpuviz_app.sources.wire import Encoder, RunInfo

log = logging.getLogger(__name__)

SEND_HWM = 4  # messages queued per window at most
MAX_PENDING_CHUNKS = 4096  # flushes of metric rows kept for a window that is behind
LINGER_S = 1.0  # at close, at most this long for the final message to leave
JOIN_WAIT_S = 0.5  # at close, a window whose socket exists gets this long to subscribe
ATTACH_WAIT_S = 2.0  # at attach, likewise, so that its views see the run from its first step
LAUNCH_WAIT_S = 20.0  # a launched window has this long to start listening before the script goes on
PROBE_THREADS = ("gpuviz-landscape",)  # probes' threads that compute between steps: joined at close,
# since a thread still inside torch when the interpreter exits aborts the process
PROBE_THREADS_WAIT_S = 30.0
MESSAGE_SHARE = 0.02  # making and sending messages (probes aside) takes at most this share of the time
PROBE_SHARE = 0.04  # each probe's payloads take at most this share of the training time (below its own budget)
MAX_PUBLISH_GAP_S = 1.0  # ... unless a message costs more than this share of a second
FULL_REFRESH_S = 10.0  # a weights payload is sent whole at least this often (else its new columns)


class RemoteSender:
    """Publishes the runs a script attaches to a window at `address` (see module doc).

    `stats` counts messages `sent`, `dropped` (the window was behind) and `skipped` (no window
    subscribed); `subscribers` is the number of windows subscribed now."""

    def __init__(self, address: str | None = None, token: str = "", views: Iterable[str] | None = None,
                 publish_hz: float = 20.0, script: str | None = None) -> None:
        import zmq

        self.address = check_address(address or default_address())
        names = list(PROBES) if views is None else [v for v in views if v in PROBES]
        factories = {name: _guarded(name, factory) for name, factory in probe_factories(names).items()}
        self.demand = _SenderDemand(shown=())
        self.probe_host = ProbeHost(factories, self.demand)
        self.all_probes = frozenset(factories)
        self.windows = WindowViews()  # the probes each window says it shows (sources.window_views)
        self.publish_interval = 1.0 / publish_hz if publish_hz > 0 else float("inf")
        self.gpu = IpcExporter(self.address)  # same host, CUDA: large arrays cross as IPC handles
        self.encoder = Encoder(token, gpu=self.gpu)
        self.script = script if script is not None else _script_name()
        self.host = socket.gethostname()
        self.stats = {"sent": 0, "dropped": 0, "skipped": 0}
        self.subscribers = 0
        self.current: AttachedRun | None = None
        self.info: RunInfo | None = None
        self.steps_per_s = 0.0
        self._runs = 0
        self._seq = 0
        self._rows: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._base: dict[str, int] = {}  # rows of each series the window has
        self._sent_versions: dict[str, int] = {}
        self._columns_sent: dict[str, ColumnsSent] = {}  # the weights payloads the windows hold
        self._full_sent: dict[str, float] = {}  # when each was last sent whole
        self._reset = True
        self._last_publish = 0.0
        self._publish_gap = self.publish_interval  # grows when messages cost more than their share
        self._message_time = 0.0  # the time making a message takes, probes aside, smoothed
        self._step_end = 0.0
        self._step_time = 0.0
        self._probes_made = False
        self._rate_steps, self._rate_time = 0, 0.0
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.XPUB)
        self._socket.setsockopt(zmq.XPUB_NODROP, 1)
        self._socket.setsockopt(zmq.XPUB_VERBOSER, 1)
        self._socket.setsockopt(zmq.IMMEDIATE, 1)  # a window's leaving ends its pipe: it unsubscribes
        self._socket.setsockopt(zmq.SNDHWM, SEND_HWM)
        self._socket.setsockopt(zmq.LINGER, int(LINGER_S * 1000))
        self._socket.connect(self.address)
        self._zmq = zmq
        self.closed = False

    # -- RunHost: called from `viz.step` on the script's thread ----------------------------------
    def bind(self, run: AttachedRun) -> None:
        if self.current is not None and not self.current.closed:
            self.unbind(self.current)
        self._runs += 1
        self.current = run
        self._step_time = time.time()
        self.info = RunInfo(script=self.script, host=self.host, pid=os.getpid(), name=run.name,
                            started=run.started, run=self._runs)
        self._rows, self._base, self._sent_versions, self._reset = {}, {}, {}, True
        self._columns_sent = {}
        run.row_sink = self._add_rows
        self.probe_host.close()
        self._probes_made = False  # made when a window first subscribes: a script alone pays nothing
        if ipc_path(self.address) is not None:  # (a network window may be far: never wait for one here)
            self._wait_for_window(ATTACH_WAIT_S)
        self._watch_subscriptions()
        self._publish(run)
        self._step_end = time.perf_counter()

    def after_step(self, run: AttachedRun) -> None:
        self._step_time = time.time()  # the step's wall time, what a window's latency is measured from
        now = time.perf_counter()
        elapsed = now - self._step_end
        self._last_publish += elapsed - self.demand.add_training_time(elapsed)  # a pause brings no message closer
        self._rate_steps += 1
        self._rate_time += elapsed
        if now - self._last_publish >= self._publish_gap:
            self._watch_subscriptions()
            self._publish(run)
        self._step_end = time.perf_counter()

    def unbind(self, run: AttachedRun) -> None:
        """The run ended: a window that is about to subscribe gets a moment, probes settle on the
        final weights, and the final snapshot is sent."""
        if run is not self.current:
            return
        self._wait_for_window()
        if self.subscribers:
            self.probe_host.settle(run.context, LINGER_S, final=True)
            self.demand.force()
        self._publish(run, finished=True)
        self.probe_host.close()
        run.row_sink = None
        self.current = None

    def close(self) -> None:
        """Let the last message leave (at most `LINGER_S`) and close the socket."""
        if self.closed:
            return
        self.closed = True
        if self.current is not None:
            self.unbind(self.current)
        self._wait_for_acks()
        self._socket.close(linger=int(LINGER_S * 1000))
        self._context.term()
        self.gpu.close()
        deadline = time.monotonic() + PROBE_THREADS_WAIT_S
        for thread in threading.enumerate():
            if thread.name in PROBE_THREADS and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    # -- subscriptions ---------------------------------------------------------------------------
    def _watch_subscriptions(self) -> None:
        """Read the windows' (un)subscriptions; a new window gets everything again."""
        joined = False
        while True:
            try:
                event = self._socket.recv(self._zmq.NOBLOCK)
            except self._zmq.Again:
                break
            if self.gpu.subscription(event) or self.windows.subscription(event) or len(event) > 1:
                continue  # a window's IPC or views topic, not a window joining
            if event[:1] == b"\x01":
                self.subscribers += 1
                joined = True
            elif event[:1] == b"\x00":
                self.subscribers = max(0, self.subscribers - 1)
        if self.subscribers and not self._probes_made and self.current is not None:
            self.probe_host.start_run(self.current.context)
            self._probes_made = True
        if self.gpu.changed:  # the window's IPC ability changed: every payload is sent afresh
            self.gpu.changed = False
            self._sent_versions, self._columns_sent = {}, {}
            self.encoder.forget()
        if joined:
            self._reset = True
            self._sent_versions, self._columns_sent = {}, {}
            self.encoder.forget()
            self.demand.force()
        shown = self.windows.shown(self.subscribers, self.all_probes)
        if shown != self.demand.shown:
            gained = shown - self.demand.shown
            self.probe_host.set_shown(shown)
            if gained:
                self.demand.force()  # a probe switched on sends a fresh payload at once

    def _wait_for_window(self, seconds: float = JOIN_WAIT_S) -> None:
        if self.subscribers or not self._window_may_join():
            return
        deadline = time.monotonic() + seconds
        while not self.subscribers and time.monotonic() < deadline:
            if self._socket.poll(50, self._zmq.POLLIN):
                self._watch_subscriptions()

    def _wait_for_acks(self) -> None:
        """At close, the window gets a moment to finish reading the device slots it was sent."""
        deadline = time.monotonic() + LINGER_S
        while self.gpu.in_flight() and time.monotonic() < deadline:
            if self._socket.poll(50, self._zmq.POLLIN):
                self._watch_subscriptions()

    def _window_may_join(self) -> bool:
        path = ipc_path(self.address)
        return path.exists() if path is not None else True

    # -- messages --------------------------------------------------------------------------------
    def _add_rows(self, name: str, steps: np.ndarray, values: np.ndarray) -> None:
        if not self.subscribers or self._reset:
            return  # the next message carries the whole history
        chunks = self._rows.setdefault(name, [])
        chunks.append((steps.copy(), values.copy()))
        if len(chunks) > MAX_PENDING_CHUNKS:  # a window that takes nothing for long: send the history instead
            self._rows, self._reset = {}, True

    def _publish(self, run: AttachedRun, finished: bool = False) -> None:
        self._last_publish = time.perf_counter()
        if not self.subscribers:
            self.stats["skipped"] += 1
            return
        start = time.perf_counter()
        run.flush()
        probes_start = time.perf_counter()
        self.probe_host.collect(run.context)
        probes_time = time.perf_counter() - probes_start
        if self._rate_time >= 0.25:
            rate = self._rate_steps / self._rate_time
            self.steps_per_s = rate if not self.steps_per_s else 0.7 * self.steps_per_s + 0.3 * rate
            self._rate_steps, self._rate_time = 0, 0.0
        whole = {name: payload for name, payload in self.probe_host.parts.items() if self._due(name, payload)}
        parts, deltas = self._tails(whole)
        rows = self._history_rows(run) if self._reset else self._pending_rows()
        snapshot = {
            "step": run.step_count, "wall_time": self._step_time, "steps_per_s": float(self.steps_per_s),
            "paused": False, "finished": finished, "model": run.name, "device": str(run.device),
            "device_name": run.device_name, "error": "",
            "diverged_step": run.nonfinite_loss[0] if run.nonfinite_loss else None,
            "diverged": run.diverged,
        }
        self._seq += 1
        self.gpu.enabled = not finished  # the script may exit before the window reads a last message
        frames = self.encoder.encode(self.info, self._seq, snapshot, run.latest(), self.probe_host.versions,
                                     parts, rows, reset=self._reset, deltas=deltas)
        sent = self._send(frames, LINGER_S if finished else 0.0)  # the run's last message may wait a moment
        cost = time.perf_counter() - start - probes_time  # the probes keep to budgets of their own
        self._message_time = cost if not self._message_time else 0.7 * self._message_time + 0.3 * cost
        share = MESSAGE_SHARE * run.context.budget_scale  # a job's leader: the other ranks would wait too
        self._publish_gap = min(max(self.publish_interval, self._message_time / share), MAX_PUBLISH_GAP_S)
        self.gpu.sent(self._seq, sent)
        if not sent:
            self.stats["dropped"] += 1  # the window is behind: this frame is dropped, never waited for
            return
        self.stats["sent"] += 1
        for name, (base, steps, _) in rows.items():
            self._base[name] = base + len(steps)
        self._rows = {}
        self._reset = False
        self._sent_versions.update({name: self.probe_host.versions[name] for name in parts})
        now = time.monotonic()
        for name, payload in whole.items():
            if isinstance(payload, WeightsPayload):
                self._columns_sent[name] = ColumnsSent.of(payload, self.probe_host.versions[name])
                if name not in deltas:
                    self._full_sent[name] = now

    def _tails(self, parts: dict[str, Any]) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
        """The parts to send, weights payloads cut to the columns the windows lack, and for each
        cut one (its first column, the version of the payload it extends)."""
        out, deltas = dict(parts), {}
        now = time.monotonic()
        for name, payload in parts.items():
            sent = self._columns_sent.get(name)
            if sent is None or now - self._full_sent.get(name, 0.0) >= FULL_REFRESH_S:
                continue
            k = unchanged_columns(sent, payload)
            if k:
                out[name], deltas[name] = tail(payload, k), (k, sent.version)
        return out, deltas

    def _due(self, name: str, payload: Any) -> bool:
        """Whether a payload goes in the next message: one no window shows stays here; a window
        starting afresh gets every other one, and the others are sent when they changed."""
        if payload is None or (name in self.all_probes and name not in self.demand.shown):
            return False
        return self._reset or self._sent_versions.get(name) != self.probe_host.versions.get(name)

    def _send(self, frames: list, patience_s: float) -> bool:
        deadline = time.monotonic() + patience_s
        while True:
            try:
                self._socket.send_multipart(frames, flags=self._zmq.NOBLOCK, copy=False)
                return True
            except self._zmq.Again:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.01)

    def _pending_rows(self) -> dict[str, tuple[int, np.ndarray, np.ndarray]]:
        out = {}
        for name, chunks in self._rows.items():
            out[name] = (self._base.get(name, 0), np.concatenate([c[0] for c in chunks]),
                         np.concatenate([c[1] for c in chunks]))
        return out

    def _history_rows(self, run: AttachedRun) -> dict[str, tuple[int, np.ndarray, np.ndarray]]:
        """The whole history, for a window that just joined: each stored bucket as its first step's
        minimum and its last step's maximum (exact while no bucket holds more than one value)."""
        self._rows = {}
        out = {}
        history = run.history
        for name in history.names:
            if not history.total(name):
                continue
            rows = history.rows(name)
            single = rows["count"] == 1
            steps = np.stack([rows["first_step"], rows["last_step"]], 1)
            values = np.stack([rows["min"], rows["max"]], 1)
            keep = np.stack([np.ones(len(rows), bool), ~single], 1)
            out[name] = (0, steps[keep].astype(np.int64), values[keep].astype(np.float64))
        return out


class _SenderDemand(ProbeDemand):
    """The demand of a sender: each probe's budget capped at `PROBE_SHARE` (see module doc)."""

    def track(self, name: str, budget: float, min_interval_s: float | None = None) -> None:
        super().track(name, min(budget, PROBE_SHARE), min_interval_s)


class _Absent(Probe):
    """Stands for a probe that could not be made for this model: it sends nothing."""

    def __call__(self, context: Any) -> None:
        return None


def _guarded(name: str, factory: ProbeFactory) -> ProbeFactory:
    """A factory whose failure costs the script its view, never its training."""

    def make(context: Any) -> Probe:
        try:
            return factory(context)
        except Exception as exc:  # noqa: BLE001 - the user's loop must go on whatever the model is
            log.warning("gpuviz: the %s view cannot show this model: %s", name, exc)
            return _Absent()

    return make


def _script_name() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "")
    return Path(path).name if path else "python"


def launch_window(address: str) -> bool:
    """Start a gpuviz window listening at `address` unless one listens; True once one does.

    The window runs in its own session, so it outlives the script; the script waits at most
    `LAUNCH_WAIT_S` for it (only at `attach`, never during training)."""
    if listening(address):
        return True
    command = [sys.executable, "-m", "gpuviz_app", "--listen", address]
    try:
        subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    except OSError as exc:
        log.warning("gpuviz: could not start a window (%s)", exc)
        return False
    deadline = time.monotonic() + LAUNCH_WAIT_S
    done = threading.Event()
    while time.monotonic() < deadline:
        if listening(address):
            return True
        done.wait(0.2)
    return False
