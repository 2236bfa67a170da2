"""`gpuviz open RUN_DIR` and a run directory dropped on the window show the stored run at its
last step, with the timeline over its recorded steps and nothing training."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from gpuviz_app.sources.stored import ReplaySource
from tests.stored_runs import write_stored_run
from tests.ui.test_datasets import drop


@pytest.fixture
def opened(qtbot, monkeypatch):
    """`opened(path)`: a window as `gpuviz open path --views metrics` makes it; closed after the test."""
    from gpuviz_app.ui import lifetime
    from gpuviz_app.ui.launch_options import LaunchOptions
    from gpuviz_app.ui.main_window import MainWindow

    monkeypatch.setenv("GPUVIZ_DISPLAY_BUDGET", "100")  # frames drawn as soon as they are taken
    made = []
    threads_before = set(threading.enumerate())

    def make(path: str) -> MainWindow:
        window = MainWindow(LaunchOptions(run=path, views=("metrics",), listen=None))
        made.append(window)
        window.show()
        qtbot.waitExposed(window)
        return window

    yield make
    for window in made:
        window.close()
        if window.thread is not None:
            window.thread.wait(60_000)
        window.deleteLater()
    qtbot.wait(10)
    assert not lifetime.leaks()
    assert not [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive() and not t.daemon]


def wait_drawn_step(qtbot, window, step: int) -> None:
    qtbot.waitUntil(lambda: window.frames.drawn is not None and window.frames.drawn.step == step, timeout=30_000)


def test_a_stored_run_opens_at_its_last_step_with_nothing_training(opened, qtbot, tmp_path):
    run = write_stored_run(tmp_path, steps=(0, 2, 5, 9))
    window = opened(run)
    wait_drawn_step(qtbot, window, 9)
    assert isinstance(window.source, ReplaySource) and window.session is None
    assert window.timeline.label.text() == "step 9 / 9"
    assert list(window.timeline.steps) == [0, 2, 5, 9]
    assert window.frames.drawn.metrics.totals()["train_loss"] == 4
    with qtbot.waitSignal(window.frames.frame_drawn, check_params_cb=lambda s: s.step == 2, timeout=30_000):
        window.timeline.slider.setValue(1)
    assert window.frames.drawn.metrics.totals()["train_loss"] == 2


def test_a_run_directory_dropped_on_the_window_is_shown(opened, qtbot, tmp_path):
    first = write_stored_run(tmp_path / "a", steps=(0, 3))
    second = write_stored_run(tmp_path / "b", steps=(0, 4, 8, 12))
    window = opened(first)
    wait_drawn_step(qtbot, window, 3)
    assert drop(window, [second])
    wait_drawn_step(qtbot, window, 12)
    assert window.source.title == second.rsplit("/", 1)[-1]
    assert list(window.timeline.steps) == [0, 4, 8, 12]
    assert window.datasets.dialog is None and window.session is None  # not taken for a dataset


def test_several_run_directories_dropped_together_open_a_compare_window(opened, qtbot, tmp_path):
    first = write_stored_run(tmp_path / "a", steps=(0, 3))
    second = write_stored_run(tmp_path / "b", steps=(0, 4, 8))
    window = opened(first)
    wait_drawn_step(qtbot, window, 3)
    assert drop(window, [first, second])
    shown = window.compare_window
    assert shown is not None and shown.isVisible()
    qtbot.waitUntil(lambda: shown.frames.drawn is not None and shown.frames.drawn.step == 8, timeout=30_000)
    assert list(shown.timeline.steps) == [0, 3, 4, 8]
    assert window.source.title == first.rsplit("/", 1)[-1]  # the window keeps showing its run
    assert window.datasets.dialog is None and window.session is None  # not taken for a dataset
    shown.close()
    qtbot.waitUntil(lambda: not shown.thread.isRunning(), timeout=60_000)


def test_a_replayed_loss_surface_is_exported_as_shown_without_waiting_for_a_recentre(main_window, qtbot, tmp_path):
    from gpuviz_app.core.probes.landscape.payload import LandscapePayload
    from gpuviz_app.store.frames import MemoryFrames
    from tests.stored_runs import metric_snapshots

    snaps = metric_snapshots(steps=(0, 5))
    surface = LandscapePayload(state="done", grid=np.zeros((3, 3), np.float32), resolution=3, finished_side=3,
                               centre_step=0, low=0.0, clip=1.0)
    snaps[0] = replace(snaps[0], parts={"landscape": surface}, versions={"landscape": 1})
    window = main_window("--views", "metrics,landscape", show=False)
    window.run_source(ReplaySource(MemoryFrames(snaps)))
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.frames.drawn is not None and window.frames.drawn.step == 5
                    and "landscape" in window.visible_panels(), timeout=30_000)
    assert window.frames.drawn.parts["landscape"].centre_step == 0  # recorded at step 0, shown at 5
    saved = []
    assert window.exporter.surface.then("a test", lambda: saved.append(True))
    assert saved == [True] and not window.exporter.surface.waiting


def test_a_tensorboard_log_opens_with_its_scalars_and_histograms_in_the_views(opened, qtbot, tmp_path):
    from tests.store.test_tensorboard import train_and_log

    logdir = tmp_path / "logs"
    logged, _names = train_and_log(logdir, steps=6)
    window = opened(str(logdir))
    wait_drawn_step(qtbot, window, 5)
    assert list(window.timeline.steps) == list(range(6))
    snap = window.frames.drawn
    assert snap.metrics.totals()["loss"] == 6 and "weights" in snap.parts
    with qtbot.waitSignal(window.frames.frame_drawn, check_params_cb=lambda s: s.step == 2, timeout=30_000):
        window.timeline.slider.setValue(2)
    assert window.frames.drawn.metrics.totals()["loss"] == 3


def test_a_stored_run_greys_out_the_controls_only_a_training_run_acts_on(opened, qtbot, tmp_path):
    window = opened(write_stored_run(tmp_path, steps=(0, 2, 5, 9)))
    wait_drawn_step(qtbot, window, 9)
    probe_keys = {f"{view.name}.{name}" for panel in window.panels.values() for view in panel.views
                  for name in [o.name for o in view.OPTIONS if o.probe] + [a.name for a in view.ACTIONS]}
    assert "landscape.recentre" in probe_keys and "weights.track_hidden" in probe_keys
    widgets = {key: w for panel in window.panels.values() for key, w in panel.option_widgets.items()}
    assert probe_keys & set(widgets) == probe_keys - {"embedding.layer"}  # (the layer has a control of its own)
    for key, widget in widgets.items():
        assert widget.isEnabled() == (key not in probe_keys), key  # a view's display settings stay usable
    embedding = window.panels["embedding"]
    assert not embedding.extras[0].layer.isEnabled() and embedding.extras[0].filter.isEnabled()
    for panel in window.panels.values():  # a run that trains gets them back
        panel.set_probe_controls(True)
    assert all(widget.isEnabled() for widget in widgets.values()) and embedding.extras[0].layer.isEnabled()
