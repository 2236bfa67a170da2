"""The timeline under the views: any recorded step of the run shown, in every view at once.

One object, driven by the frame loop's and the window's signals. A stored run (the window's
source is a `ReplaySource`) is scrubbed by sending that source `ShowStep`. A live run follows
the newest step; when a provider gives its recorded frames (the run store's reader on the live
run's directory), moving the timeline shows them through a replay source of its own, on its own
thread, while training goes on, and "Live" returns to the newest step. The window shows one
snapshot at a time, so every view is at the same step.

Keys (window-wide): Left/Right the previous/next recorded step, Home/End the first/last, Space
play/pause while a recorded step is shown (the key is borrowed from the training Play action
meanwhile). Playback advances `speed` recorded steps per drawn frame, so it never outruns the
display, and stops at the end (a live run's end returns to following it).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.sources.base import RunSource
from gpuviz_app.sources.stored import ReplaySource, ShowStep
from gpuviz_app.store.frames import RunFrames
from gpuviz_app.ui.frame_loop import FrameLoop
from gpuviz_app.ui.worker import TrainingThread

SPEEDS = (1, 4, 16)  # recorded steps per drawn frame
FramesProvider = Callable[[RunSource], "RunFrames | None"]


def index_at(steps: np.ndarray, step: int) -> int:
    """Index of the last recorded step at or before `step` (0 when there is none)."""
    return max(int(np.searchsorted(steps, step, side="right")) - 1, 0)


def next_index(steps: np.ndarray, step: int) -> int:
    """Index of the first recorded step after `step` (the last index when there is none)."""
    return min(int(np.searchsorted(steps, step, side="right")), len(steps) - 1)


class Timeline(QtWidgets.QToolBar):
    """The bar: play/pause, speed, a slider over the recorded steps, the step shown, Live.

    `frames` is the window's frame loop; `space_from` the action that owns Space while the
    timeline follows a live run; `provider(source)` the recorded frames of a live source, or
    None (then the bar follows the live run only). `follow_source` is told each source the
    window shows. `step_asked(step)` follows every step the timeline asks to be shown,
    `playing_changed(playing)` each start and end of playback."""

    step_asked = QtCore.Signal(int)
    playing_changed = QtCore.Signal(bool)

    def __init__(self, frames: FrameLoop, space_from: QtGui.QAction | None = None,
                 provider: FramesProvider | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Timeline", parent)
        self.setObjectName("timeline-toolbar")
        self.loop = frames
        self.provider = provider
        self._space_from = space_from
        self.source: RunSource | None = None  # the window's
        self.replay: ReplaySource | None = None  # what is shown when not live
        self.run_frames: RunFrames | None = None
        self.steps = np.zeros(0, np.int64)
        self.live = True
        self.step: int | None = None  # the step shown or asked for (not live)
        self.live_step = 0
        self.playing = False
        self.speed = SPEEDS[0]
        self._thread: TrainingThread | None = None  # runs our own replay of a live run
        self._build()
        frames.snapshot_taken.connect(self._taken)
        frames.run_started.connect(self._run_started)
        frames.frame_drawn.connect(self._drawn)
        self._update()

    # -- widgets ---------------------------------------------------------------------------------
    def _build(self) -> None:
        S = QtWidgets.QStyle.StandardPixmap
        self.play_action = QtGui.QAction(self.style().standardIcon(S.SP_MediaPlay), "Play", self)
        self.play_action.setCheckable(True)
        self.play_action.setToolTip("Play or pause the recorded steps (Space)")
        self.play_action.toggled.connect(self.set_playing)
        self.addAction(self.play_action)
        self.speed_box = QtWidgets.QComboBox(self)
        self.speed_box.setToolTip("Recorded steps per frame while playing")
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed}×", speed)
        self.speed_box.currentIndexChanged.connect(self._speed_chosen)
        self.addWidget(self.speed_box)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal, self)
        self.slider.setObjectName("timeline-slider")
        self.slider.setToolTip("Drag to show any recorded step (Left/Right, Home/End)")
        self.slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # the keys are the window's
        self.slider.valueChanged.connect(self._slid)
        self.slider.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
        self.addWidget(self.slider)
        self.label = QtWidgets.QLabel(self)
        self.label.setObjectName("timeline-step")
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance("step 0,000,000 / 0,000,000"))
        self.addWidget(self.label)
        self.live_action = QtGui.QAction("Live", self)
        self.live_action.setCheckable(True)
        self.live_action.setToolTip("Follow the newest step of the run as it trains")
        self.live_action.toggled.connect(self._live_toggled)
        self.addAction(self.live_action)
        self.keys: dict[str, QtGui.QAction] = {}
        for name, key, slot in (("previous", "Left", lambda: self.step_by(-1)), ("next", "Right", lambda: self.step_by(1)),
                                ("first", "Home", self.first), ("last", "End", self.last)):
            action = QtGui.QAction(name, self)
            action.setShortcut(QtGui.QKeySequence(key))
            action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.slider.addAction(action)  # a shortcut of the window, no button
            self.keys[name] = action
        self.play_action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)

    # -- what the window shows -------------------------------------------------------------------
    def follow_source(self, source: RunSource) -> None:
        """The window shows `source` now: a stored run is scrubbed, a live one followed."""
        self._end_own_replay()
        self.source = source
        self._playing(False)
        self.steps = np.zeros(0, np.int64)
        self.step = None
        if isinstance(source, ReplaySource):
            self.replay, self.live = source, False
            self.run_frames = source.frames
        else:
            self.replay, self.live = None, True
            self.run_frames = self.provider(source) if self.provider is not None else None
        self._refresh_steps()
        self._update()

    @property
    def stored(self) -> bool:
        """Whether the window shows a recorded run (nothing trains)."""
        return isinstance(self.source, ReplaySource)

    def _run_started(self, run_id: int) -> None:
        """A live source began a new run (a reset, another dataset): its record is another one."""
        if self.live and self.provider is not None and self.source is not None and not self.stored:
            self.run_frames = self.provider(self.source)
            self._refresh_steps()

    def _taken(self, snap: Snapshot) -> None:
        if self.live:
            self.live_step = snap.step
        elif self.stored and self.run_frames is None and self.replay.frames is not None:
            self.run_frames = self.replay.frames  # opened on the source's thread
            self._refresh_steps()
        if not self.live and self.step is None:
            self.step = snap.step
        self._update()

    def _drawn(self, snap: Snapshot) -> None:
        """Playback advances once the step it asked for is on screen."""
        if self.playing and not self.live and snap.step == self.step:
            self._advance()

    # -- moving ------------------------------------------------------------------------------------
    def _refresh_steps(self) -> None:
        if self.run_frames is not None:
            if not self.stored:
                refresh = getattr(self.run_frames, "refresh", None)  # a store still being written
                if callable(refresh):
                    refresh()
            self.steps = np.asarray(self.run_frames.steps(), dtype=np.int64)

    def _here(self) -> int:
        return self.live_step if self.live or self.step is None else self.step

    def step_by(self, count: int) -> None:
        """`count` recorded steps later (earlier when negative) than the step shown."""
        if count == 0 or (self.live and count > 0) or not self._can_move():
            return
        step = self._here()
        if count > 0:
            index = next_index(self.steps, step) + count - 1
        else:
            before = int(np.searchsorted(self.steps, step, side="left"))  # recorded steps before it
            if before == 0:
                return
            index = before + count
        self.show_step(int(self.steps[min(max(index, 0), len(self.steps) - 1)]))

    def first(self) -> None:
        if self._can_move():
            self.show_step(int(self.steps[0]))

    def last(self) -> None:
        if self.live:
            return
        if self.stored:
            if self._can_move():
                self.show_step(int(self.steps[-1]))
            return
        self.set_live(True)

    def _can_move(self) -> bool:
        if self.run_frames is None:
            return False
        if not self.stored:
            self._refresh_steps()  # a live run's store grows
        return len(self.steps) > 0

    def show_step(self, step: int) -> None:
        """Show the recorded run at `step` in every view."""
        if self.run_frames is None:
            return
        if self.replay is None:  # a live run: from now on the views show its record
            self.replay = ReplaySource(self.run_frames, step=step, unpaced=False)  # training goes on
            self.live = False
            self._thread = TrainingThread(self.replay, self)
            self._thread.setObjectName("gpuviz-replay")
            self.loop.start(self.replay)
            self._thread.start()
        self.step = step
        self.replay.send(ShowStep(step))
        self.step_asked.emit(step)
        self._update()

    def set_live(self, live: bool) -> None:
        """Follow the live run's newest step again (or leave it for its last recorded step)."""
        if live == self.live or self.stored:
            self._update()
            return
        if not live:
            if self._can_move():
                self.show_step(int(self.steps[-1]))
            return
        self.set_playing(False)
        self._end_own_replay()
        self.live, self.step = True, None
        if self.source is not None:
            self.loop.start(self.source, show_newest=True)
        self._update()

    def set_playing(self, playing: bool) -> None:
        """Play from the step shown (from the first when at the end) at `speed` steps per frame."""
        playing = bool(playing) and not self.live and self._can_move()
        if playing == self.playing:
            self._update()
            return
        self._playing(playing)
        if playing:
            if self.step is None or self.step >= int(self.steps[-1]):
                self.show_step(int(self.steps[0]))
            else:
                self._advance()
        self._update()

    def _advance(self) -> None:
        index = next_index(self.steps, self.step) + self.speed - 1
        if index >= len(self.steps) and not self.stored:
            self._refresh_steps()
        if self.step >= int(self.steps[-1]):
            self._playing(False)
            if not self.stored:
                self.set_live(True)
            self._update()
            return
        self.show_step(int(self.steps[min(index, len(self.steps) - 1)]))

    def _playing(self, playing: bool) -> None:
        if playing != self.playing:
            self.playing = playing
            self.playing_changed.emit(playing)

    def _slid(self, index: int) -> None:
        if 0 <= index < len(self.steps) and int(self.steps[index]) != self.step:
            self.show_step(int(self.steps[index]))

    def _speed_chosen(self, index: int) -> None:
        self.speed = SPEEDS[index]

    def _live_toggled(self, checked: bool) -> None:
        self.set_live(checked)

    def _end_own_replay(self) -> None:
        if self._thread is not None:
            self._thread.shutdown()
            self._thread = None
            self.replay = None

    def shutdown(self) -> None:
        """Stop playback and the replay thread this timeline started (the window is closing)."""
        self.playing = False
        self._end_own_replay()

    # -- showing the state ---------------------------------------------------------------------------
    def _update(self) -> None:
        movable = self.run_frames is not None and (len(self.steps) > 0 or self.live)
        for action in self.keys.values():
            action.setEnabled(movable)
        self.slider.setEnabled(movable and len(self.steps) > 0)
        self.play_action.setEnabled(movable)
        self.speed_box.setEnabled(movable)
        self.live_action.setVisible(not self.stored)
        self.live_action.setEnabled(not self.stored and self.run_frames is not None)
        self._set_checked(self.live_action, self.live)
        self._set_checked(self.play_action, self.playing)
        self.play_action.setText("Pause" if self.playing else "Play")
        self._borrow_space(not self.live)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(len(self.steps) - 1, 0))
        here = self._here()
        if len(self.steps):
            self.slider.setValue(len(self.steps) - 1 if self.live else index_at(self.steps, here))
        self.slider.blockSignals(False)
        text = self._text()
        if self.label.text() != text:
            self.label.setText(text)

    def _text(self) -> str:
        if self.replay is not None and self.replay.error:
            return f"could not open: {self.replay.error}"
        last = int(self.steps[-1]) if len(self.steps) else None
        if self.live:
            return f"step {self.live_step:,} · live"
        if self.step is None:
            return "opening…" if self.run_frames is None else ""
        return f"step {self.step:,} / {last:,}" if last is not None else f"step {self.step:,}"

    def _borrow_space(self, borrow: bool) -> None:
        space = QtGui.QKeySequence(QtCore.Qt.Key.Key_Space)
        mine, theirs = (space, QtGui.QKeySequence()) if borrow else (QtGui.QKeySequence(), space)
        if self.play_action.shortcut() != mine:
            if self._space_from is not None:
                self._space_from.setShortcut(theirs)
            self.play_action.setShortcut(mine)

    @staticmethod
    def _set_checked(action: QtGui.QAction, checked: bool) -> None:
        if action.isChecked() != checked:
            action.blockSignals(True)
            action.setChecked(checked)
            action.blockSignals(False)
