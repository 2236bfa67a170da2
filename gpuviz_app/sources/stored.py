"""A recorded run as a run source: the views are shown the run as it was at the step asked for.

A stored run, an imported TensorBoard log and snapshots kept in memory are all `RunFrames`;
`ReplaySource` publishes `snapshot_at(step)` into its mailbox, so the views cannot tell a replay
from a live run. The step comes from the timeline as a `ShowStep` command; only the newest one
asked for is read (scrubbing over a slow store never queues up reads).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Union

from gpuviz_app.core.commands import Command, CommandMethods
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.mailbox import Mailbox
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.store.frames import RunFrames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShowStep:
    """Show the recorded run as it was at `step` (the payloads recorded at or before it)."""

    step: int


FramesLoader = Callable[[], RunFrames]


class ReplaySource(CommandMethods):
    """Shows a `RunFrames` (or what `loader()` returns, opened on the source's own thread, so a
    long import never holds the window up). Starts at `step`, by default the last one recorded.

    Of the commands only `ShowStep` has an effect: a recorded run takes no training commands.
    `frames` is the run once opened; `error` says why it could not be (a snapshot carrying that
    sentence is published too). `unpaced`: nothing trains beside it, so the display may draw each
    snapshot as soon as it is published (a replay shown while a live run trains is paced).
    """

    def __init__(self, frames: Union[RunFrames, FramesLoader], step: int | None = None, title: str = "",
                 unpaced: bool = True) -> None:
        self.mailbox: Mailbox[Snapshot] = Mailbox()
        self.title = title
        self.unpaced = unpaced
        self.frames: RunFrames | None = None if callable(frames) and not hasattr(frames, "snapshot_at") else frames
        self._loader = frames if self.frames is None else None
        self.error = ""
        self._wanted = step
        self._shown: int | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()

    # -- RunSource ----------------------------------------------------------------------------
    def send(self, command: Command | ShowStep) -> None:
        if isinstance(command, ShowStep):
            with self._lock:
                self._wanted = int(command.step)
            self._wake.set()

    def pace_probes(self) -> None:
        pass

    def want_probes(self) -> None:
        pass

    def run(self) -> None:
        """Open the run if needed, show the step asked for, then each newer request until `stop`
        (a stop that came before `run` began ends it at once: a replay runs once)."""
        if self._stop.is_set():
            return
        if self.frames is None and not self._open():
            self._stop.wait()
            return
        self._wake.set()
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                break
            with self._lock:
                wanted = self._wanted
            if wanted is None:
                wanted = self.last_step()
            if wanted is not None and wanted != self._shown:
                self._show(wanted)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- reading ---------------------------------------------------------------------------------
    def last_step(self) -> int | None:
        steps = self.frames.steps() if self.frames is not None else ()
        return int(steps[-1]) if len(steps) else None

    def _open(self) -> bool:
        try:
            self.frames = self._loader()
        except Exception as exc:  # noqa: BLE001 - an unreadable run is said, never raised into Qt
            self.error = str(exc) or type(exc).__name__
            log.warning("could not open the run: %s", self.error)
            self.mailbox.put(_failed(self.error))
            return False
        return True

    def _show(self, step: int) -> None:
        try:
            snap = self.frames.snapshot_at(step)
        except Exception as exc:  # noqa: BLE001 - a bad record keeps the last picture and says why
            log.warning("step %d of the run could not be read: %s", step, exc)
            self._shown = step
            return
        self._shown = step
        self.mailbox.put(snap)


def _failed(error: str) -> Snapshot:
    return Snapshot(run_id=0, step=0, wall_time=time.time(), metrics=MetricsHistory(capacity=2), latest={},
                    error=error, finished=True)
