"""The timeline: keys and the slider move between recorded steps, playback advances and stops at
the end, and a live run is followed, left for its record and followed again."""

from __future__ import annotations

import threading
import warnings
from dataclasses import replace

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from gpuviz_app.core.commands import CommandMethods, SetPaused
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.mailbox import Mailbox
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.sources.stored import ReplaySource
from gpuviz_app.store.frames import MemoryFrames

STEPS = (0, 2, 5, 9, 14, 20, 27)


@pytest.fixture(autouse=True)
def _unlimited_display(monkeypatch):
    """Every frame is drawn as soon as it is taken (the display budget would space them out)."""
    monkeypatch.setenv("GPUVIZ_DISPLAY_BUDGET", "100")
Key = QtCore.Qt.Key


def recorded(steps=STEPS) -> list[Snapshot]:
    history = MetricsHistory(names=())
    out = []
    for i, step in enumerate(steps):
        history.append("train_loss", np.array([step]), np.array([1.0 / (step + 1)]))
        out.append(Snapshot(run_id=1, step=step, wall_time=100.0 + step, metrics=history, latest={},
                            parts={}, versions={}, dataset="digits", model="mlp"))
    return out


def activate(window) -> None:
    """Make the window the active one, as a click would: Xvfb has no window manager to do it,
    and window shortcuts (the timeline's keys) fire only in the active window."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        QtWidgets.QApplication.setActiveWindow(window)
    assert window.isActiveWindow()


def shown_steps(window, qtbot, action, expect: int) -> None:
    """Do `action`, then wait until the panels were given step `expect`."""
    with qtbot.waitSignal(window.frames.frame_drawn, check_params_cb=lambda s: s.step == expect, timeout=30_000):
        action()


@pytest.fixture
def stored(main_window, qtbot):
    """A window showing a recorded run (nothing trains)."""
    window = main_window("--views", "metrics", show=False)
    source = ReplaySource(MemoryFrames(recorded()))
    window.run_source(source)
    window.show()
    qtbot.waitExposed(window)
    activate(window)
    qtbot.waitUntil(lambda: window.frames.drawn is not None and window.frames.drawn.step == STEPS[-1], timeout=30_000)
    return window


def test_a_stored_run_opens_at_its_last_step_and_the_keys_move_between_recorded_steps(stored, qtbot):
    window, timeline = stored, stored.timeline
    assert window.source is window.frames.source and isinstance(window.source, ReplaySource)
    assert timeline.label.text() == "step 27 / 27"
    assert not window.controls.isEnabled()  # a recorded run takes no training commands
    assert timeline.slider.maximum() == len(STEPS) - 1 and timeline.slider.value() == len(STEPS) - 1
    for key, step in ((Key.Key_Left, 20), (Key.Key_Left, 14), (Key.Key_Home, 0), (Key.Key_Left, 0),
                      (Key.Key_Right, 2), (Key.Key_Right, 5), (Key.Key_End, 27)):
        if step == timeline.step:
            qtbot.keyClick(window, key)  # already there: nothing to show
            assert timeline.step == step
            continue
        shown_steps(window, qtbot, lambda: qtbot.keyClick(window, key), step)
        assert timeline.step == step
        assert timeline.label.text() == f"step {step} / 27"
        assert timeline.slider.value() == STEPS.index(step)
    shown_steps(window, qtbot, lambda: timeline.slider.setValue(3), STEPS[3])  # a drag lands on index 3
    assert window.frames.drawn.step == 9


def test_play_advances_through_the_recorded_steps_and_stops_at_the_end(stored, qtbot):
    window, timeline = stored, stored.timeline
    drawn: list[int] = []
    window.frames.frame_drawn.connect(lambda snap: drawn.append(snap.step))
    with qtbot.waitSignal(timeline.playing_changed, check_params_cb=lambda playing: not playing, timeout=60_000):
        qtbot.keyClick(window, Key.Key_Space)  # at the end: plays from the first step
    assert drawn == list(STEPS)
    assert not timeline.play_action.isChecked() and timeline.step == 27

    shown_steps(window, qtbot, lambda: qtbot.keyClick(window, Key.Key_Home), 0)
    timeline.speed_box.setCurrentIndex(1)  # 4 recorded steps a frame
    drawn.clear()
    with qtbot.waitSignal(timeline.playing_changed, check_params_cb=lambda playing: not playing, timeout=60_000):
        timeline.play_action.trigger()
    assert drawn == [14, 27]  # the 4th recorded step after 0, then the end (fewer than 4 left)


def test_space_pauses_playback_midway(stored, qtbot):
    window, timeline = stored, stored.timeline
    shown_steps(window, qtbot, lambda: qtbot.keyClick(window, Key.Key_Home), 0)

    def pause_at_9(snap):
        if snap.step == 9:  # playback has just asked for 14
            qtbot.keyClick(window, Key.Key_Space)

    window.frames.frame_drawn.connect(pause_at_9)
    with qtbot.waitSignal(window.frames.frame_drawn, check_params_cb=lambda snap: snap.step == 14, timeout=60_000):
        qtbot.keyClick(window, Key.Key_Space)
    window.frames.frame_drawn.disconnect(pause_at_9)
    assert not timeline.playing and timeline.step == 14  # 14 drawn, and nothing asked after it


class LiveSource(CommandMethods):
    """A run that trains in another thread's stead: the test publishes its snapshots."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.commands: list = []
        self._stop = threading.Event()

    def send(self, command) -> None:
        self.commands.append(command)

    def pace_probes(self) -> None:
        pass

    def want_probes(self) -> None:
        pass

    def run(self) -> None:
        self._stop.wait()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()


def live_window(main_window, qtbot, provider):
    window = main_window("--views", "metrics", show=False)
    window.timeline.provider = provider
    live = LiveSource()
    window.run_source(live)
    window.show()
    qtbot.waitExposed(window)
    activate(window)
    return window, live


def test_without_recorded_frames_the_bar_follows_the_live_run_only(main_window, qtbot):
    window, live = live_window(main_window, qtbot, provider=None)
    timeline = window.timeline
    snap = recorded()[3]
    shown_steps(window, qtbot, lambda: live.mailbox.put(snap), 9)
    assert timeline.live and timeline.label.text() == "step 9 · live"
    assert timeline.live_action.isChecked() and not timeline.live_action.isEnabled()
    assert not timeline.slider.isEnabled() and not timeline.keys["previous"].isEnabled()
    qtbot.keyClick(window, Key.Key_Left)
    qtbot.keyClick(window, Key.Key_Space)  # still the training's Play/Pause
    assert window.frames.source is live and timeline.live
    assert SetPaused(True) in live.commands


def test_a_live_run_is_left_for_its_record_and_followed_again(main_window, qtbot):
    snaps = recorded()
    record = MemoryFrames(snaps[:5])  # the store holds steps 0..14 so far
    window, live = live_window(main_window, qtbot, provider=lambda source: record)
    timeline = window.timeline
    shown_steps(window, qtbot, lambda: live.mailbox.put(snaps[4]), 14)
    assert timeline.live and timeline.slider.isEnabled()

    shown_steps(window, qtbot, lambda: qtbot.keyClick(window, Key.Key_Left), 9)
    assert window.source is live  # training goes on
    assert isinstance(window.frames.source, ReplaySource) and window.frames.source.frames is record
    assert not timeline.live and timeline.label.text() == "step 9 / 14"
    assert window.controls.play.shortcut().isEmpty()  # Space plays the record meanwhile
    shown_steps(window, qtbot, lambda: qtbot.keyClick(window, Key.Key_Home), 0)

    live.mailbox.put(snaps[5])  # the run trains on while its record is shown
    shown_steps(window, qtbot, lambda: timeline.live_action.trigger(), 20)
    assert window.frames.source is live and timeline.live
    assert timeline.label.text() == "step 20 · live"
    assert window.controls.play.shortcut().toString() == "Space"
    assert timeline.replay is None and timeline._thread is None

    shown_steps(window, qtbot, lambda: qtbot.keyClick(window, Key.Key_Left), 14)  # the newest recorded
    shown_steps(window, qtbot, lambda: qtbot.keyClick(window, Key.Key_End), 20)  # End: live again
    assert timeline.live and window.frames.source is live
    shown_steps(window, qtbot, lambda: qtbot.keyClick(window, Key.Key_Left), 14)
    with qtbot.waitSignal(timeline.playing_changed, check_params_cb=lambda playing: not playing, timeout=60_000):
        qtbot.keyClick(window, Key.Key_Space)  # at the record's end: from its first step, then live again
    assert timeline.live and window.frames.source is live


def test_a_new_live_run_is_scrubbed_in_its_own_record(main_window, qtbot):
    records = {1: MemoryFrames(recorded()[:3]), 2: MemoryFrames(recorded((0, 1, 3)))}
    current = {"run": 1}
    window, live = live_window(main_window, qtbot, provider=lambda source: records[current["run"]])
    timeline = window.timeline
    shown_steps(window, qtbot, lambda: live.mailbox.put(recorded()[3]), 9)
    assert timeline.run_frames is records[1]
    current["run"] = 2  # a reset: the same source, a new run
    shown_steps(window, qtbot, lambda: live.mailbox.put(replace(recorded((0, 1, 3, 4))[3], run_id=2)), 4)
    assert timeline.run_frames is records[2] and list(timeline.steps) == [0, 1, 3]
    shown_steps(window, qtbot, lambda: qtbot.keyClick(window, Key.Key_Left), 3)


class Spent:
    """A display budget that never allows a frame."""

    budget = 0.0

    def ready(self):
        return False

    def wait_s(self):
        return 10.0

    def restart(self):
        pass

    def set_base(self, cores):
        pass


def test_a_stored_runs_steps_are_drawn_as_soon_as_asked_whatever_the_display_budget(main_window, qtbot,
                                                                                    monkeypatch):
    monkeypatch.setattr("gpuviz_app.ui.frame_loop.MAX_FRAME_GAP_S", 1e9)  # no frame but those drawn at once
    window = main_window("--views", "metrics", show=False, pacer=Spent())
    window.run_source(ReplaySource(MemoryFrames(recorded())))
    window.show()
    qtbot.waitExposed(window)
    activate(window)
    qtbot.waitUntil(lambda: window.frames.drawn is not None and window.frames.drawn.step == STEPS[-1], timeout=30_000)
    for key, step in ((Key.Key_Home, 0), (Key.Key_Right, 2), (Key.Key_End, 27)):
        shown_steps(window, qtbot, lambda: qtbot.keyClick(window, key), step)
