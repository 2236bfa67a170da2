"""The launch's first trained frame comes first: the docks make their canvases after it is painted."""

from __future__ import annotations

import numpy as np

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.ui.first_frame import shows_training, will_not_train_soon


def snap(step, losses=0, **state):
    history = MetricsHistory(capacity=16)
    if losses:
        history.append("train_loss", np.arange(1, losses + 1), np.ones(losses))
    return Snapshot(run_id=1, step=step, wall_time=0.0, metrics=history, latest={}, **state)


def test_a_trained_frame_is_step_one_or_later_with_losses():
    assert shows_training(snap(3, losses=3))
    assert not shows_training(snap(0)) and not shows_training(None)
    assert not shows_training(snap(3))  # no losses to plot
    assert will_not_train_soon(snap(0, paused=True)) and will_not_train_soon(snap(0, finished=True))
    assert will_not_train_soon(snap(0, error="training could not start: no memory"))
    assert not will_not_train_soon(snap(0)) and not will_not_train_soon(None)


def test_the_front_dock_makes_its_canvas_after_the_first_trained_frame_is_painted(main_window, qtbot):
    window = main_window("--device", "cpu")
    weights = window.panels["weights"]
    assert "weights" in window.shown_views()  # the front tab: on screen, yet without a canvas at first
    made = []
    weights.canvas_created.connect(lambda canvas: made.append((window.first_frames.finished, window.drawn)))
    qtbot.waitUntil(lambda: weights.has_canvas, timeout=120_000)
    (after_first_frame, drawn), = made
    assert after_first_frame and shows_training(drawn)
    assert weights.views[0].parent is not None  # attached, and given the newest snapshot


def test_the_docks_probes_start_after_the_first_trained_frame(main_window, qtbot):
    window = main_window("--device", "cpu")
    assert "weights" in window.shown_views()  # the front tab
    first = []
    window.first_frames.done.connect(lambda: first.append(window.drawn))
    qtbot.waitUntil(lambda: bool(first), timeout=120_000)
    assert shows_training(first[0]) and "weights" not in first[0].parts  # its probe had not run
    qtbot.waitUntil(lambda: window.snapshot is not None and "weights" in window.snapshot.parts, timeout=120_000)
