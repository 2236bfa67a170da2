"""A window's side of watching scripts in other processes: a ZeroMQ listener and its runs.

`Listener(address)` binds a SUB socket (a Unix socket or a loopback port; a network address
only with `allow_network=True` and a token the senders must present) and receives on its own
daemon thread. Each message is decoded by `sources.wire.decode`; a malformed one, or one
without the right token, is dropped with a log line (at most one a second, with a count of
those held back). Each sender (script, host, pid, attach) becomes a `RemoteRun`: a
`RunSource` whose mailbox holds its newest `Snapshot`, so the window's frame loop reads it as
it reads the built-in trainer. A run whose process ended stays, marked finished.

For measurements: `RemoteRun.latest` is the newest snapshot, whose `wall_time` is the
sender's clock when that step was published, and `received` the listener's clock on arrival.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Iterable

from gpuviz_app.core.commands import Command, CommandMethods, SetShownProbes
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.mailbox import Mailbox
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.sources.address import (
    AddressError,
    check_address,
    default_address,
    ipc_path,
    is_local,
    listening,
    prepare_ipc_folder,
)
from gpuviz_app.sources.column_delta import splice
from gpuviz_app.sources.cuda_ipc import IpcImporter, ack_topic, machine_id, offer_topic, platform_reason, refusal_topic
from gpuviz_app.sources.window_views import views_topic
from gpuviz_app.sources.wire import BadMessage, Message, RunInfo, decode

log = logging.getLogger(__name__)

RECV_HWM = 64
POLL_MS = 100
LOG_EVERY_S = 1.0
EXIT_CHECK_S = 1.0  # how often runs of this machine not heard from lately are checked for an ended process


class RemoteRun(CommandMethods):
    """One attached script in another process, as a `RunSource`.

    The script runs on its own: of the commands only `SetShownProbes` has an effect, passed to
    `on_shown` (the listener's `set_shown`: what the window shows is said to every script it
    listens to). `run` waits until `stop`. `step`, `steps_per_s`, `finished` and `last_seen`
    describe it for a list."""

    def __init__(self, info: RunInfo, run_id: int,
                 on_shown: Callable[[frozenset[str]], None] | None = None) -> None:
        self.info = info
        self.run_id = run_id
        self.on_shown = on_shown
        self.mailbox: Mailbox[Snapshot] = Mailbox()
        self.history = MetricsHistory(names=())  # only the series the script sends
        self.parts: dict[str, Any] = {}
        self.part_versions: dict[str, int] = {}  # the version of each payload held
        self.refs: dict[str, Any] = {}
        self.latest: Snapshot | None = None
        self.received = 0.0  # listener's time.time() when the newest message arrived
        self.last_seen = 0.0
        self.messages = 0
        self.seq = 0
        self.device = "cpu"  # "cuda:i" once its payloads arrive as CUDA IPC handles
        self.transport = ""  # how its payloads arrive: "CUDA IPC", or why as host bytes
        self._stop = threading.Event()

    # -- what a list of runs shows ----------------------------------------------------------
    @property
    def step(self) -> int:
        return self.latest.step if self.latest is not None else 0

    @property
    def steps_per_s(self) -> float:
        return self.latest.steps_per_s if self.latest is not None else 0.0

    @property
    def finished(self) -> bool:
        return self.latest is not None and self.latest.finished

    @property
    def title(self) -> str:
        name = f" {self.info.name}" if self.info.name else ""
        return f"{self.info.script}{name} (pid {self.info.pid} on {self.info.host})"

    # -- RunSource ----------------------------------------------------------------------------
    def send(self, command: Command) -> None:
        """The probes the window shows go to the script; it takes no other command."""
        if isinstance(command, SetShownProbes) and self.on_shown is not None:
            self.on_shown(command.names)

    def pace_probes(self) -> None:
        pass

    def want_probes(self) -> None:
        pass

    def run(self) -> None:
        """Wait until `stop`; the views following this run get its newest snapshot at once."""
        self._stop.clear()
        if self.latest is not None:
            self.mailbox.put(replace(self.latest, run_id=self.run_id))  # a run shown again starts afresh
        self._stop.wait()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- messages (the listener's thread) --------------------------------------------------------
    def apply(self, message: Message) -> Snapshot:
        """Fold a message into the run: rows into the history, payloads over the older ones."""
        if message.reset:
            self.history = MetricsHistory(names=())
            self.parts, self.part_versions = {}, {}
        for name, (base, steps, values) in message.rows.items():
            have = self._total(name)
            skip = max(0, have - base)  # rows the run already holds (a repeated history)
            if skip < len(steps):
                self.history.append(name, steps[skip:], values[skip:])
        self.refs.update(message.refs)
        for name, part in message.parts.items():
            if name in message.deltas:
                k, base = message.deltas[name]
                if name not in self.parts or self.part_versions.get(name) != base:
                    continue  # a tail of a payload not held here: keep the one held, until a whole one comes
                try:
                    part = splice(self.parts[name], part, k)
                except ValueError:
                    continue
            self.parts[name] = part
            self.part_versions[name] = message.versions.get(name, 0)
        self.parts = {name: part for name, part in self.parts.items() if name in message.versions}
        versions = {**message.versions, **{n: v for n, v in self.part_versions.items() if n in self.parts}}
        s = message.snapshot
        snapshot = Snapshot(
            run_id=self.run_id, step=s.get("step", 0), wall_time=float(s.get("wall_time", message.sent_time)),
            metrics=self.history, latest=dict(message.latest), parts=dict(self.parts),
            versions=versions, device=self.device,
            device_name=f"{s.get('device_name', '')} in pid {self.info.pid} on {self.info.host}",
            dataset=self.info.script, steps_per_s=float(s.get("steps_per_s", 0.0)), paused=False,
            finished=bool(s.get("finished", False)), model=s.get("model", self.info.name),
            error=s.get("error", ""), diverged_step=s.get("diverged_step"), diverged=s.get("diverged", ""),
        )
        self.latest = snapshot
        self.received = self.last_seen = time.time()
        self.messages += 1
        self.seq = message.seq
        self.mailbox.put(snapshot)
        if message.gpu_reason is not None:
            self.transport = "CUDA IPC" if not message.gpu_reason else f"host bytes: {message.gpu_reason}"
        return snapshot

    def _total(self, name: str) -> int:
        return self.history.total(name) if name in self.history.names else 0

    def mark_exited(self) -> None:
        """The sender left without a final message: the run is shown as finished where it stopped."""
        if self.latest is not None and not self.latest.finished:
            self.latest = replace(self.latest, finished=True,
                                  error=self.latest.error or "the script stopped sending")
            self.mailbox.put(self.latest)


class Listener:
    """Receives from scripts attached in other processes (see module doc).

    `runs()` lists them in the order they appeared; `on_run(run)` is called (on the listener's
    thread) when a new one appears, `on_message(run)` after each message it sends. `dropped`
    counts malformed or refused messages. `shown` (or `set_shown` later) names the probes the
    window's views need, and the scripts compute only those; a listener that never says gets
    every probe."""

    def __init__(self, address: str | None = None, token: str = "", allow_network: bool = False,
                 on_run: Callable[[RemoteRun], None] | None = None,
                 on_message: Callable[[RemoteRun], None] | None = None,
                 shown: Iterable[str] | None = None) -> None:
        import zmq

        self.address = check_address(address or default_address())
        if not is_local(self.address) and not (allow_network and token):
            raise AddressError(f"listening on the network address {self.address} needs the network option "
                               "and a token that senders must present")
        self.token = token
        self.on_run = on_run
        self.on_message = on_message
        self.dropped = 0
        self._host = socket.gethostname()
        self._runs: dict[tuple, RemoteRun] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._log_time = 0.0
        self._held_back = 0
        self._changed = threading.Condition(self._lock)
        self._zmq = zmq
        if listening(self.address):
            raise AddressError(f"another gpuviz window is listening on {self.address}")
        prepare_ipc_folder(self.address)
        path = ipc_path(self.address)
        if path is not None and path.exists():
            path.unlink()  # a socket file left by a window that no longer runs
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.RCVHWM, RECV_HWM)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SUBSCRIBE, b"")
        self._window = secrets.token_hex(8)
        self._ipc: dict[tuple, IpcImporter] | None = None
        if self.address.startswith("ipc://") and not platform_reason():
            self._ipc = {}  # same host, CUDA: senders may send handles (see sources.cuda_ipc)
            self._socket.setsockopt(zmq.SUBSCRIBE, offer_topic(self._window, machine_id()))
        self._acked: dict[tuple, bytes] = {}
        self._views_said = b""  # the views topic subscribed now
        self._views_wanted: bytes | None = None  # set by `set_shown` (any thread), said by the loop
        if shown is not None:
            self._say_views(views_topic(self._window, shown))  # before any script connects
        try:
            self._socket.bind(self.address)
        except zmq.ZMQError as exc:
            self._socket.close()
            self._context.term()
            raise AddressError(f"cannot listen on {self.address}: {exc}") from None
        self._thread = threading.Thread(target=self._loop, name="gpuviz-listener", daemon=True)
        self._thread.start()

    # -- any thread ----------------------------------------------------------------------------
    def set_shown(self, names: Iterable[str]) -> None:
        """The probes the window's views need from now on; the scripts hear it within `POLL_MS`."""
        topic = views_topic(self._window, names)
        with self._lock:
            self._views_wanted = topic

    def runs(self) -> list[RemoteRun]:
        with self._lock:
            return list(self._runs.values())

    def wait_for(self, predicate: Callable[["Listener"], bool], timeout: float) -> bool:
        """Wait until `predicate(self)` holds (checked after each message), at most `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def close(self) -> None:
        """Stop receiving; the runs stay readable, each marked finished."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5.0)
        for run in self.runs():
            run.mark_exited()
            run.stop()

    # -- the listener's thread -----------------------------------------------------------------
    def _loop(self) -> None:
        zmq = self._zmq
        try:
            checked = time.monotonic()
            while not self._stop.is_set():
                self._say_wanted_views()
                if time.monotonic() - checked >= EXIT_CHECK_S:
                    self._check_exits()
                    checked = time.monotonic()
                if not self._socket.poll(POLL_MS, zmq.POLLIN):
                    continue
                while not self._stop.is_set():
                    try:
                        frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    self._receive([f.buffer for f in frames])
        finally:
            for importer in (self._ipc or {}).values():
                importer.close()
            self._socket.close(linger=0)
            self._context.term()
            path = ipc_path(self.address)
            if path is not None:
                path.unlink(missing_ok=True)

    def _receive(self, frames: list[Any]) -> None:
        try:
            message = decode(frames, self._refs_of, self._importer_of)
            if self.token and not hmac.compare_digest(message.token.encode(), self.token.encode()):
                raise BadMessage("the message does not carry this window's token")
        except BadMessage as exc:
            self._drop(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - nothing a peer sends may stop the listener
            self._drop(f"the message could not be read ({type(exc).__name__})")
            return
        with self._lock:
            run = self._runs.get(message.run.key)
        new = run is None
        if new:
            run = RemoteRun(message.run, len(self._runs) + 1, on_shown=self.set_shown)
        importer = self._ipc.get(message.run.key) if self._ipc is not None else None
        if importer is not None and importer.device and not importer.refused:
            run.device = importer.device  # its CUDA tensors are the window's, on this device
        try:
            run.apply(message)
        except Exception as exc:  # noqa: BLE001 - a message that decodes but does not fit the run
            self._drop(f"the message does not fit its run ({type(exc).__name__}: {exc})")
            return
        self._ipc_feedback(run)
        if new:
            with self._lock:
                self._runs[message.run.key] = run  # listed once it has a snapshot
        if new and self.on_run is not None:
            self.on_run(run)
        if self.on_message is not None:
            self.on_message(run)
        with self._changed:
            self._changed.notify_all()

    def _refs_of(self, info: RunInfo) -> dict[str, Any]:
        run = self._runs.get(info.key)
        return run.refs if run is not None else {}

    def _importer_of(self, info: RunInfo) -> IpcImporter | None:
        return self._ipc.setdefault(info.key, IpcImporter()) if self._ipc is not None else None

    def _ipc_feedback(self, run: RemoteRun) -> None:
        """Acknowledge the handles read (the sender may reuse their slots), or say once why
        they cannot be opened here (the sender turns to host bytes)."""
        importer = self._ipc.get(run.info.key) if self._ipc is not None else None
        if importer is None:
            return
        key = run.info.key
        if importer.refused:
            if self._acked.get(key) != b"refused":
                self._socket.setsockopt(self._zmq.SUBSCRIBE, refusal_topic(self._window, run.info.pid,
                                                                            importer.refused))
                self._unsubscribe_ack(key)
                self._acked[key] = b"refused"
                run.device, run.transport = "cpu", f"host bytes: {importer.refused}"
                log.warning("gpuviz: %s: payloads come as host bytes: %s", run.title, importer.refused)
            return
        if importer.device:
            run.device = importer.device
        if run.finished:
            importer.close()
        if importer.ack:
            topic = ack_topic(self._window, run.info.pid, importer.ack)
            if self._acked.get(key) != topic:
                self._socket.setsockopt(self._zmq.SUBSCRIBE, topic)
                self._unsubscribe_ack(key)
                self._acked[key] = topic

    def _say_wanted_views(self) -> None:
        with self._lock:
            topic, self._views_wanted = self._views_wanted, None
        if topic is not None:
            self._say_views(topic)

    def _say_views(self, topic: bytes) -> None:
        """Subscribe the new views topic, then drop the old one (a sender keeps a window's newest:
        see `sources.window_views`); the listener's thread only, once it runs."""
        if topic == self._views_said:
            return  # subscribing it twice would need two unsubscribes
        self._socket.setsockopt(self._zmq.SUBSCRIBE, topic)
        if self._views_said:
            self._socket.setsockopt(self._zmq.UNSUBSCRIBE, self._views_said)
        self._views_said = topic

    def _unsubscribe_ack(self, key: tuple) -> None:
        previous = self._acked.get(key)
        if previous and previous != b"refused":
            self._socket.setsockopt(self._zmq.UNSUBSCRIBE, previous)

    def _check_exits(self) -> None:
        """Runs on this machine whose process is gone are marked finished where they stopped."""
        now = time.time()
        for run in self.runs():
            if run.finished or run.info.host != self._host or now - run.last_seen < EXIT_CHECK_S:
                continue
            if not _alive(run.info.pid):
                run.mark_exited()
                if self.on_message is not None:
                    self.on_message(run)

    def _drop(self, reason: str) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._log_time < LOG_EVERY_S:
            self._held_back += 1
            return
        more = f" ({self._held_back} more dropped since the last line)" if self._held_back else ""
        log.warning("gpuviz: dropped a message from another process: %s%s", reason, more)
        self._log_time, self._held_back = now, 0
        with self._changed:
            self._changed.notify_all()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
