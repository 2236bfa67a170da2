"""Two runs compared in lockstep: one timeline moves every panel to the same step, each run showing
its payloads recorded at or before it; the metrics overlay every run's exact values in the run's
colour; the difference heatmap holds B - A, or says why there is none; File > Runs… opens it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6 import QtCore

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.probes.weights.payload import MatrixImage
from gpuviz_app.render.difference import matrix_difference
from gpuviz_app.render.upload import as_numpy
from gpuviz_app.render.views.metrics.groups import RUN_COLORS
from gpuviz_app.store.compare import CompareFrames, run_series
from gpuviz_app.store.frames import MemoryFrames, RunSummary
from gpuviz_app.ui import lifetime
from gpuviz_app.ui.compare_window import CompareWindow
from tests.ui.test_timeline import activate

Key = QtCore.Qt.Key
A_STEPS = (1, 2, 3, 4, 5, 6)
B_STEPS = (3, 5)  # run B recorded later and less often
SHIFT = 0.25  # run B's weight matrices are run A's at the same step plus this


@pytest.fixture(autouse=True)
def _unlimited_display(monkeypatch):
    monkeypatch.setenv("GPUVIZ_DISPLAY_BUDGET", "100")


@pytest.fixture(scope="module")
def probed():
    """Snapshots of a small CNN trained six steps with the weights and embedding probes."""
    from tests.store.probed_run import probed_snapshots

    return list(probed_snapshots(len(A_STEPS), views=("weights", "embedding"), samples=32))


def shifted(payload, shift: float, shape: tuple[int, int] | None = None):
    """`payload` with every weight matrix moved by `shift` (or replaced by one of `shape`)."""
    matrices = {}
    for index, m in payload.matrices.items():
        values = as_numpy(m.values).astype(np.float32)
        if shape is not None:
            values = np.full(shape, 0.5, np.float32)
        values = values + np.float32(shift)
        matrices[index] = MatrixImage(values, np.float32(np.abs(values).max()), tuple(m.block),
                                      tuple(values.shape) if shape is not None else tuple(m.shape))
    return dataclasses.replace(payload, matrices=matrices)


def run_b(probed, shape=None, name="B") -> MemoryFrames:
    """Run B: A's snapshots at B_STEPS, its losses 2 + step, its matrices moved by SHIFT."""
    history = MetricsHistory(names=())
    out = []
    for snap in probed:
        if snap.step not in B_STEPS:
            continue
        history.append("train_loss", np.array([snap.step]), np.array([2.0 + snap.step]))
        parts = dict(snap.parts, weights=shifted(snap.parts["weights"], SHIFT, shape))
        out.append(dataclasses.replace(snap, metrics=history, parts=parts))
    return MemoryFrames(out, RunSummary(name=name))


def run_a(probed) -> MemoryFrames:
    return MemoryFrames(probed, RunSummary(name="A"))


def at(frames: MemoryFrames, step: int):
    return frames.snapshot_at(step)


def shown_window(qtbot, a: MemoryFrames, b: MemoryFrames, **options) -> CompareWindow:
    """A compare window over runs `a` and `b`, shown, once it drew the last step on every panel's canvas."""
    window = CompareWindow(CompareFrames([a, b]), 2, "A · B", **options)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.frames.drawn is not None and window.frames.drawn.step == A_STEPS[-1],
                    timeout=30_000)
    qtbot.waitUntil(lambda: all(p.has_canvas for p in window.panels()), timeout=60_000)
    return window


@pytest.fixture
def compare(qtbot, probed):
    """A compare window over runs A and B, once every panel has its canvas."""
    a, b = run_a(probed), run_b(probed)
    window = shown_window(qtbot, a, b)
    window.frames_a, window.frames_b = a, b
    activate(window)  # (once the GL canvases are made)
    yield window
    window.close()
    assert not window.thread.isRunning() and not lifetime.leaks()


def move(window, qtbot, action, step: int) -> None:
    with qtbot.waitSignal(window.frames.frame_drawn, check_params_cb=lambda s: s.step == step, timeout=30_000):
        action()


def check_lockstep(window, step: int) -> None:
    """Every panel shows `step`: each run's column its payloads recorded at or before it."""
    assert window.frames.drawn.step == step and window.timeline.step == step
    assert window.timeline.label.text() == f"step {step:,} / {A_STEPS[-1]:,}"
    for column, frames, steps in ((window.columns[0], window.frames_a, A_STEPS),
                                  (window.columns[1], window.frames_b, B_STEPS)):
        earlier = [s for s in steps if s <= step]
        if not earlier:
            assert column.shown is None and column.empty.isVisible() and not column.views.isVisible()
            assert f"nothing by step {step}" in column.empty.text()
            continue
        expected = at(frames, step)
        assert column.views.isVisible() and column.shown.step == step
        weights, embedding = (column.panels[n].views[0] for n in ("weights", "embedding"))
        assert weights.payload is expected.parts["weights"]
        assert weights.payload.step == earlier[-1]
        fc = max(expected.parts["weights"].matrices)
        tile = next(t for t in weights.tiles.tiles if t.index == fc)
        np.testing.assert_array_equal(as_numpy(tile.values), as_numpy(expected.parts["weights"].matrices[fc].values))
        assert embedding.frame.frame == expected.parts["embedding"].frame
        np.testing.assert_array_equal(embedding.positions_host(),
                                      as_numpy(expected.parts["embedding"].positions).astype(np.float32))


def test_one_timeline_moves_every_run_to_the_same_step(compare, qtbot):
    window = compare
    timeline = window.timeline
    assert list(timeline.steps) == sorted(set(A_STEPS) | set(B_STEPS))
    check_lockstep(window, 6)
    for key, step in ((Key.Key_Left, 5), (Key.Key_Left, 4), (Key.Key_Home, 1), (Key.Key_Right, 2),
                      (Key.Key_Right, 3)):
        move(window, qtbot, lambda key=key: qtbot.keyClick(window, key), step)
        check_lockstep(window, step)
    move(window, qtbot, lambda: timeline.slider.setValue(A_STEPS.index(5)), 5)
    check_lockstep(window, 5)
    move(window, qtbot, lambda: timeline.slider.setValue(A_STEPS.index(1)), 1)  # B has recorded nothing yet
    check_lockstep(window, 1)
    # the two runs' weights differ, so their pictures do
    move(window, qtbot, lambda: qtbot.keyClick(window, Key.Key_End), 6)
    from gpuviz_app.export.frames import render_view

    pictures = [render_view(c.panels["weights"].canvas) for c in window.columns]
    assert pictures[0].shape == pictures[1].shape and np.any(pictures[0] != pictures[1])
    # playback from the first step runs through every step to the last, every panel following
    drawn = []
    window.frames.frame_drawn.connect(lambda s: drawn.append(s.step))
    move(window, qtbot, lambda: qtbot.keyClick(window, Key.Key_Space), 6)
    qtbot.waitUntil(lambda: not timeline.playing, timeout=30_000)
    assert drawn[0] == 1 and drawn[-1] == 6 and sorted(set(drawn)) == list(A_STEPS)
    check_lockstep(window, 6)


def test_the_metrics_overlay_every_run_and_the_heatmap_holds_b_minus_a(compare, qtbot):
    window = compare
    move(window, qtbot, lambda: window.timeline.show_step(4), 4)
    view = window.metrics.views[0]
    loss = next(g for g in view.groups if g.key == "loss")
    assert [(s.name, s.label, s.color) for s in loss.series] == [
        (run_series(0, "train_loss"), "A \u00b7 train", RUN_COLORS[0]),
        (run_series(1, "train_loss"), "B \u00b7 train", RUN_COLORS[1])]
    plot = view.plots["loss"]
    assert plot.legend == [("A \u00b7 train", RUN_COLORS[0]), ("B \u00b7 train", RUN_COLORS[1])]
    history = window.frames.drawn.metrics
    for index, frames, steps in ((0, window.frames_a, A_STEPS), (1, window.frames_b, B_STEPS)):
        rows = history.rows(run_series(index, "train_loss"))
        own = at(frames, 4).metrics.rows("train_loss")
        assert list(rows["last_step"]) == [s for s in steps if s <= 4]
        np.testing.assert_array_equal(rows["mean"], own["mean"])
    assert list(history.rows(run_series(1, "train_loss"))["mean"]) == [5.0]  # 2 + step 3
    assert {name for name in plot.series} == {run_series(0, "train_loss"), run_series(1, "train_loss")}

    # the heatmap holds B - A, and follows the layer and the runs chosen
    move(window, qtbot, lambda: window.timeline.show_step(5), 5)
    panel = window.difference
    view = panel.view
    a, b = at(window.frames_a, 5).parts["weights"], at(window.frames_b, 5).parts["weights"]
    layers = sorted(a.matrices)
    assert [panel.layer_box.itemData(i) for i in range(panel.layer_box.count())] == layers
    layer = layers[0]
    expected = as_numpy(b.matrices[layer].values) - as_numpy(a.matrices[layer].values)
    np.testing.assert_array_equal(view.shown.values, expected)
    assert np.allclose(view.shown.values, SHIFT)
    tile = view._tile
    np.testing.assert_array_equal(as_numpy(tile.values), expected)
    assert tile.image.vmax >= SHIFT and view.shown.message == ""
    # A minus B: the same difference, negated
    panel.b_box.setCurrentIndex(0)
    panel.a_box.setCurrentIndex(1)
    np.testing.assert_array_equal(view.shown.values, -expected)
    # at step 2 run B has recorded nothing: the heatmap says so
    move(window, qtbot, lambda: window.timeline.show_step(2), 2)
    assert view.shown.values is None and "B has no weights recorded at or before step 2" in view.shown.message
    assert view.text.text == view.shown.message


def test_matrices_of_different_shapes_have_no_difference_but_a_message(probed):
    a, b = run_a(probed), run_b(probed, shape=(2, 5), name="wide")
    compared = CompareFrames([a, b]).snapshot_at(5).parts["compared"]
    layer = max(a.snapshot_at(5).parts["weights"].matrices)
    shown = matrix_difference(compared, layer)
    assert shown.values is None
    assert "shapes differ" in shown.message and "2\u00d75 in wide" in shown.message


def test_runs_with_the_same_name_are_told_apart(probed):
    frames = CompareFrames([run_a(probed), MemoryFrames(probed, RunSummary(name="A"))])
    assert frames.names == ("A", "A (2)")
    with pytest.raises(ValueError):
        CompareFrames([run_a(probed)])


def test_compare_in_the_runs_dialog_opens_the_selected_runs_in_lockstep(qtbot, monkeypatch):
    from PySide6 import QtGui

    from gpuviz_app.sources.stored import ReplaySource
    from gpuviz_app.store.layout import runs_dir
    from gpuviz_app.ui.launch_options import LaunchOptions
    from gpuviz_app.ui.main_window import MainWindow
    from tests.stored_runs import write_stored_run

    first, second = write_stored_run(runs_dir(), steps=(0, 2, 5, 9)), write_stored_run(runs_dir(), steps=(0, 4))
    window = MainWindow(LaunchOptions(run=first, views=("metrics",), listen=None))
    try:
        window.show()
        qtbot.waitExposed(window)
        qtbot.waitUntil(lambda: window.frames.drawn is not None and window.frames.drawn.step == 9, timeout=30_000)
        window.findChild(QtGui.QAction, "action-runs").trigger()
        dialog = window.runs_dialog
        qtbot.waitUntil(lambda: dialog.complete, timeout=30_000)
        dialog.select(first)
        assert not dialog.compare_button.isEnabled()  # one run: nothing to compare it with
        dialog.table.selectAll()
        assert dialog.compare_button.isEnabled() and not dialog.open_button.isEnabled()
        dialog.compare_button.click()
        shown = window.compare_window
        assert shown is not None and shown.isVisible() and not dialog.isVisible()
        assert isinstance(window.source, ReplaySource) and window.source.frames.summary.path == first  # unchanged
        qtbot.waitUntil(lambda: shown.frames.drawn is not None and shown.frames.drawn.step == 9, timeout=30_000)
        assert list(shown.timeline.steps) == [0, 2, 4, 5, 9]
        assert sorted(r.summary.path for r in shown.source.frames.runs) == sorted((first, second))
        with qtbot.waitSignal(shown.frames.frame_drawn, check_params_cb=lambda s: s.step == 4, timeout=30_000):
            shown.timeline.show_step(4)
        losses = {name: shown.frames.drawn.metrics.rows(name)["mean"].tolist()
                  for name in shown.frames.drawn.metrics.names}
        by_path = {r.summary.path: i for i, r in enumerate(shown.source.frames.runs)}
        assert losses[run_series(by_path[first], "train_loss")] == [1.0, 1.0 / 3]
        assert losses[run_series(by_path[second], "train_loss")] == [1.0, 1.0 / 5]
        assert shown.difference.view.shown.message.startswith("no weight matrices")  # these runs logged losses only
    finally:
        window.close()
        closed_too = not window.compare_window.isVisible()  # (deleted once closed)
        if window.thread is not None:
            window.thread.wait(60_000)
        window.deleteLater()
    qtbot.wait(10)
    assert closed_too and not lifetime.leaks()  # the compare window's thread ended with the window


@pytest.mark.parametrize("views, per_run, shared", [
    (("embedding",), ["embedding"], []),
    (("weights", "metrics"), ["weights"], ["metrics", "difference"]),
])
def test_the_views_asked_for_are_the_views_shown(qtbot, probed, views, per_run, shared):
    """`gpuviz open A B --views ...`: each run's column holds the views named (the metrics overlay
    once for all runs; the weights also as the difference), and they follow the timeline."""
    a, b = run_a(probed), run_b(probed)
    window = shown_window(qtbot, a, b, views=views)
    assert [list(c.panels) for c in window.columns] == [per_run, per_run]
    assert [name for name, widget in (("metrics", window.metrics), ("difference", window.difference))
            if widget is not None] == shared
    for column, frames in zip(window.columns, (a, b)):
        shown = column.panels[per_run[0]].views[0]
        if per_run[0] == "embedding":
            assert shown.frame.frame == at(frames, A_STEPS[-1]).parts["embedding"].frame
        else:
            assert shown.payload is at(frames, A_STEPS[-1]).parts["weights"]
    window.close()
    assert not window.thread.isRunning()


def test_gpuviz_open_passes_its_views_to_the_compare_window(monkeypatch, tmp_path):
    from gpuviz_app import cli
    from gpuviz_app.store import open as store_open
    from gpuviz_app.ui import app

    given = []
    monkeypatch.setattr(store_open, "check_openable", lambda path: None)  # (the runs' reading is tested above)
    monkeypatch.setattr(app, "run_app", lambda options: given.append(options) or 0)
    monkeypatch.setenv("DISPLAY", ":0")  # (nothing is opened on it: run_app is replaced)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    assert cli.main(["open", str(tmp_path / "a"), str(tmp_path / "b"), "--views", "weights"]) == 0
    assert given[0].compare == (str(tmp_path / "a"), str(tmp_path / "b")) and given[0].views == ("weights",)


def test_stored_runs_get_no_controls_only_a_running_probe_acts_on(compare):
    """The compare window's panels show recorded payloads: settings the probes act on (the grid,
    the embedded layer, 3-D) and actions (re-centre) would change nothing, so they have no
    control; the views' own display settings keep theirs."""
    panels = compare.panels()
    shown = {key for panel in panels for key in panel.option_widgets}
    for panel in panels:
        for view in panel.views:
            for option in view.OPTIONS:
                if option.control is not None:
                    assert (f"{view.name}.{option.name}" in shown) != option.probe, option
            assert not any(f"{view.name}.{action.name}" in shown for action in view.ACTIONS)
    assert any(not option.probe for panel in panels for view in panel.views for option in view.OPTIONS
               if option.control is not None)  # (display settings are there to check)
    embedding = compare.columns[0].panels["embedding"]
    assert embedding.extras and embedding.extras[0].layer.isHidden() and not embedding.extras[0].filter.isHidden()
