"""The window's frame loop: takes the newest snapshot from a run source, decides when a frame
is drawn, asks the source for probe payloads ahead of those frames, and says what happened
through signals.

Subscribers (the window, the status bar, the recorder, tests) never poll it and never write
its state: they connect to its signals and read `snapshot` / `drawn`. Drawing is the window's
`draw` callable (push the snapshot to the panels on screen); `frame_drawn` follows it.

When a frame is drawn: while the display budget (`FramePacer`) allows it; at least every
`MAX_FRAME_GAP_S`; and at once for a run's first steps and when training stops, resumes or
finishes (see `_draw_at_once`). Between drawn frames the status still follows the newest
snapshot every `STATUS_S`. A run's step-0 snapshot, while it trains, waits up to
`FIRST_STEP_WAIT_S` for the first trained one (see `_awaiting_first_step`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from PySide6 import QtCore

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.sources.base import RunSource
from gpuviz_app.ui.lifetime import make_timer
from gpuviz_app.ui.pacing import FramePacer

FRAME_MS = 16  # the mailbox is polled at up to ~60 Hz
STATUS_S = 1.0  # between drawn frames the status follows the newest snapshot this often (each repaint
# recomposites the GL window, which a software renderer pays for)
MAX_FRAME_GAP_S = 2.0  # a frame at least this often, whatever the budget
PROBE_LEAD_S = 0.1  # payloads are asked for this long before a frame may be drawn
IDLE_POLL_MS = 250  # while the budget refills, the mailbox is still polled this often
STARTING_POLL_MS = 100  # until the loop's first snapshot (torch loading, the first run starting): each
# wake-up takes the interpreter lock from the thread doing that, and nothing is drawn before it
FIRST_STEP_WAIT_S = 1.0  # a training run's step-0 snapshot is drawn only if no trained one came by then


class FrameLoop(QtCore.QObject):
    """Signals: `snapshot_taken(snapshot)` for each new snapshot from the mailbox;
    `device_changed(device)` when the training device is first known or changes;
    `run_started(run_id)` when a snapshot of a new run arrives; `status_due(snapshot)` when
    the status should show the newest snapshot (at each frame, on a change of state, else every
    STATUS_S); `frame_drawn(snapshot)` after the panels were given a snapshot; `finished()`
    once a drawn frame shows the end of training; `load_failed(message)` when the source could
    not load what was asked (emit from any thread with `report_load_failure`)."""

    snapshot_taken = QtCore.Signal(object)
    device_changed = QtCore.Signal(str)
    run_started = QtCore.Signal(int)
    status_due = QtCore.Signal(object)
    frame_drawn = QtCore.Signal(object)
    finished = QtCore.Signal()
    load_failed = QtCore.Signal(str)
    _failure_reported = QtCore.Signal(str)  # from any thread; re-emitted as load_failed in the loop's

    def __init__(self, draw: Callable[[Snapshot], None], pacer: FramePacer | None = None,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._draw = draw
        self.pacer = pacer if pacer is not None else FramePacer()
        self.source: RunSource | None = None
        self.snapshot: Snapshot | None = None  # the newest taken from the mailbox
        self.drawn: Snapshot | None = None  # the newest given to the panels
        self.frames = 0  # frames drawn
        self.fps = 0.0
        self._drawn_time = 0.0
        self._status_time = 0.0
        self._finished_run: int | None = None
        self._run_offset = 0  # added to the run ids of the source followed (see `start`)
        self._run_taken = 0.0  # when the first snapshot of the newest run was taken
        self._fps_frames, self._fps_time = 0, time.perf_counter()
        self._timer = make_timer(self, FRAME_MS, self.tick)
        self._timer.setObjectName("gpuviz-frame")
        self._failure_reported.connect(self.load_failed, QtCore.Qt.ConnectionType.QueuedConnection)

    # -- life ----------------------------------------------------------------------------
    def start(self, source: RunSource, show_newest: bool = False) -> None:
        """Follow `source` from now on; its probes are computed for the frames drawn. The run ids
        of another source than the last go on from the last one taken, so every view sees a new run
        (each source numbers its own runs from 1). `show_newest`: a source followed again (after
        the timeline showed a recorded step) shows its newest snapshot even if it was taken before."""
        if self.source is not None and source is not self.source and self.snapshot is not None:
            self._run_offset = self.snapshot.run_id + 1
        self.source = source
        newest = (source.mailbox.take() or source.mailbox.peek()) if show_newest else None
        if newest is not None:
            self._take(newest)
        source.pace_probes()
        self.pacer.restart()  # start-up's work was not drawing
        self._timer.setInterval(FRAME_MS)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def report_load_failure(self, message: str) -> None:
        """Any thread: the source fell back from what it was asked to load. Subscribers hear
        `load_failed` in the loop's (the GUI) thread, however they connected."""
        self._failure_reported.emit(message)

    def want_probes(self) -> None:
        """A view was just shown: its first payload is wanted now, not at the next frame."""
        if self.source is not None:
            self.source.want_probes()

    # -- the loop ------------------------------------------------------------------------
    def tick(self) -> None:
        """One pass: take the newest snapshot, then draw it now or sleep until the budget allows."""
        source = self.source
        if source is None:
            return
        snap = source.mailbox.take()
        if snap is not None:
            if self.snapshot is None:
                self._timer.setInterval(FRAME_MS)
            self._take(snap)
        elif self.snapshot is None:
            self._timer.setInterval(STARTING_POLL_MS)
            return
        if self.snapshot is None or self.snapshot is self.drawn or self._awaiting_first_step():
            return
        ready = self.pacer.ready()
        gap = time.perf_counter() - self._drawn_time
        if ready or min(self.pacer.wait_s(), MAX_FRAME_GAP_S - gap) <= PROBE_LEAD_S:
            source.want_probes()  # payloads are computed for the frames that will be drawn
        if ready or gap >= MAX_FRAME_GAP_S or self._draw_at_once():
            self._draw_frame()
            return
        if time.perf_counter() - self._status_time >= STATUS_S:
            self._emit_status(self.snapshot)  # counters stay live even when frames are rare
        wait_s = self.pacer.wait_s()
        if wait_s > PROBE_LEAD_S:
            wait_s -= PROBE_LEAD_S  # wake to ask for payloads, then again to draw them
        self._timer.setInterval(max(FRAME_MS, min(IDLE_POLL_MS, int(wait_s * 1000))))

    def _take(self, snap: Snapshot) -> None:
        if self._run_offset:
            snap = replace(snap, run_id=snap.run_id + self._run_offset)
        previous, self.snapshot = self.snapshot, snap
        if previous is None or previous.device != snap.device:
            self.device_changed.emit(snap.device)
        if previous is None or previous.run_id != snap.run_id:
            self._run_taken = time.perf_counter()
            self.run_started.emit(snap.run_id)
        if previous is None or (previous.paused, previous.run_id) != (snap.paused, snap.run_id):
            self._status_time = 0.0  # a change of state is shown at once
        self.snapshot_taken.emit(snap)

    def _awaiting_first_step(self) -> bool:
        """A run that is training shows its first trained step, not the step 0 before it: drawing
        step 0 would cost the GUI thread, and the interpreter lock, while the first steps run. A
        paused, finished or failed run's step 0 is drawn at once, and any after FIRST_STEP_WAIT_S."""
        snap = self.snapshot
        if snap.step != 0 or snap.paused or snap.finished or snap.error or self._unpaced():
            return False
        return time.perf_counter() - self._run_taken < FIRST_STEP_WAIT_S

    def _draw_at_once(self) -> bool:
        """A run's first steps, and training stopping, resuming or finishing, are drawn whatever
        the budget holds: start-up's first paints, or idle costs above a small budget, would hold
        them back (and `--quit-when-done` waits for the last frame)."""
        drawn, snap = self.drawn, self.snapshot
        if drawn is None or drawn.step == 0 or drawn.run_id != snap.run_id or self._unpaced():
            return True
        return (drawn.finished, drawn.paused) != (snap.finished, snap.paused)

    def _unpaced(self) -> bool:
        """A source with nothing training (a stored run replayed, `unpaced`) publishes only what
        was asked for: each of its snapshots is drawn at once, so scrubbing follows the hand."""
        return bool(getattr(self.source, "unpaced", False))

    def _draw_frame(self) -> None:
        self._timer.setInterval(FRAME_MS)
        snap = self.drawn = self.snapshot
        self._draw(snap)
        self._drawn_time = time.perf_counter()  # the gap to the next frame counts from here
        self.frames += 1
        self._count_fps()
        self._emit_status(snap)
        self.frame_drawn.emit(snap)
        if snap.finished and self._finished_run != snap.run_id:
            self._finished_run = snap.run_id
            self.finished.emit()

    def _emit_status(self, snap: Snapshot) -> None:
        self._status_time = time.perf_counter()
        self.status_due.emit(snap)

    def _count_fps(self) -> None:
        now = time.perf_counter()
        if now - self._fps_time >= 1.0:
            self.fps = (self.frames - self._fps_frames) / (now - self._fps_time)
            self._fps_frames, self._fps_time = self.frames, now
