"""Datasets reach training through real drops, the menus and the launch path, with a confirm step."""

from __future__ import annotations

import numpy as np
import pytest

from tests.datasets import MAKERS, make
from tests.ui.conftest import wait_step, wait_taken

LONG = 60_000


def drag_event(cls, pos, *args):
    """A drag event at `pos` (a QPoint): PySide6 6.11 takes a QPoint for enter and move, later
    releases a QPointF."""
    from PySide6 import QtCore

    try:
        return cls(pos, *args)
    except TypeError:
        return cls(QtCore.QPointF(pos), *args)


def drop(window, paths, over=None) -> bool:
    """Send a drag-enter, -move and drop with file URLs to the window's native window, as the
    platform does; Qt routes it to the widget under `over` (default: the metrics GL canvas)."""
    from PySide6 import QtCore, QtGui, QtWidgets

    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(p)) for p in paths])
    target = over if over is not None else window.panels["metrics"].canvas.native
    pos = target.mapTo(window, target.rect().center())
    assert window.childAt(pos) is target or target.isAncestorOf(window.childAt(pos))
    handle = window.windowHandle()
    copy, left = QtCore.Qt.DropAction.CopyAction, QtCore.Qt.MouseButton.LeftButton
    none = QtCore.Qt.KeyboardModifier.NoModifier
    enter = drag_event(QtGui.QDragEnterEvent, pos, copy, mime, left, none)
    QtWidgets.QApplication.sendEvent(handle, enter)
    if not enter.isAccepted():
        return False
    QtWidgets.QApplication.sendEvent(handle, drag_event(QtGui.QDragMoveEvent, pos, copy, mime, left, none))
    dropped = drag_event(QtGui.QDropEvent, QtCore.QPointF(pos), copy, mime, left, none)
    QtWidgets.QApplication.sendEvent(handle, dropped)
    return dropped.isAccepted()


def wait_dialog(qtbot, window):
    actions = window.datasets
    qtbot.waitUntil(lambda: actions.dialog is not None or bool(actions.last_error), timeout=LONG)
    assert not actions.last_error, actions.last_error
    return actions.dialog


def test_every_format_loads_through_a_drop_and_trains_after_confirming(main_window, qtbot, tmp_path):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1)
    for name in MAKERS:
        sample = make(name, tmp_path / name)
        run = window.snapshot.run_id
        assert drop(window, sample.paths), name
        dialog = wait_dialog(qtbot, window)
        assert dialog.labels["Samples"].text() == f"{sample.samples:,}", name
        assert dialog.labels["Classes"].text() == f"{sample.classes:,}", name
        assert dialog.labels["Skipped files"].text() == f"{sample.skipped:,}", name
        assert dialog.balance.rowCount() == sample.classes, name
        step = window.snapshot.step
        wait_taken(qtbot, window, lambda s: s.step > step, LONG)  # training goes on meanwhile
        assert window.snapshot.run_id == run
        dialog.accept()
        wait_taken(qtbot, window, lambda s: s.run_id > run, LONG)
        data = window.session.trainer.data
        assert (len(data), data.num_classes, data.kind) == (sample.samples, sample.classes, sample.kind), name
        assert window.snapshot.dataset == data.name
        wait_step(qtbot, window, 1)


def test_keeping_the_current_dataset_leaves_the_run_alone(main_window, qtbot, tmp_path):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1)
    run, name = window.snapshot.run_id, window.snapshot.dataset
    assert drop(window, make("csv", tmp_path).paths, over=window.controls)
    dialog = wait_dialog(qtbot, window)
    assert "Split" in dialog.labels and "train" in dialog.labels["Split"].text()
    dialog.keep_button.click()
    step = window.snapshot.step
    wait_taken(qtbot, window, lambda s: s.step > step + 20, LONG)
    assert (window.snapshot.run_id, window.snapshot.dataset) == (run, name)


def test_a_refused_drop_says_why_and_training_goes_on(main_window, qtbot, tmp_path):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1)
    run = window.snapshot.run_id
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 this is no archive")
    assert drop(window, [bad])
    qtbot.waitUntil(lambda: bool(window.datasets.last_error), timeout=LONG)
    assert window.datasets.last_error.startswith(f"{bad}: ")
    box = window.datasets.message_box
    assert box is not None and box.isVisible() and "broken.npz" in box.text()
    assert box.text().count(".") >= 1 and "\n" not in box.text()
    step = window.snapshot.step
    wait_taken(qtbot, window, lambda s: s.step > step + 20, LONG)
    assert window.snapshot.run_id == run and window.snapshot.dataset.startswith("digits")
    box.close()


def test_drags_without_local_files_are_not_accepted(main_window, qtbot):
    from PySide6 import QtCore, QtGui, QtWidgets

    window = main_window("--device", "cpu")
    mime = QtCore.QMimeData()
    mime.setText("just text")
    enter = drag_event(QtGui.QDragEnterEvent, QtCore.QPoint(50, 50), QtCore.Qt.DropAction.CopyAction, mime,
                       QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(window.windowHandle(), enter)
    assert not enter.isAccepted()


def test_cancel_stops_a_load_and_hides_the_progress(main_window, qtbot, monkeypatch):
    import time

    from gpuviz_app.data import open as data_open
    from gpuviz_app.data.formats.context import LoadCancelled

    def slow_load(spec, progress=None, cancel=None, options=None):
        for i in range(10_000):
            progress(i / 10_000, "working")
            if cancel():
                raise LoadCancelled(spec)
            time.sleep(0.002)
        raise AssertionError("the load was never cancelled")

    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1)
    monkeypatch.setattr(data_open, "load_dataset", slow_load)
    progress = window.datasets.progress
    window.datasets.open("/some/big/dataset")
    qtbot.waitUntil(lambda: progress.bar.value() > 0, timeout=LONG)
    assert progress.isVisible() and progress.updates > 0
    progress.cancel.click()
    qtbot.waitUntil(lambda: not progress.isVisible(), timeout=LONG)
    assert "cancelled" in window.statusBar().currentMessage()
    assert window.datasets.dialog is None and not window.datasets.loader.busy


def test_builtin_menu_recent_menu_and_options(main_window, qtbot, tmp_path):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1)
    moons = next(a for a in window.datasets.builtin_menu.actions() if a.data() == "builtin:moons")
    moons.trigger()
    wait_dialog(qtbot, window).accept()
    wait_taken(qtbot, window, lambda s: s.dataset == "two moons", LONG)

    sample = make("npz", tmp_path)
    window.datasets.open(sample.spec)
    wait_dialog(qtbot, window).accept()
    wait_taken(qtbot, window, lambda s: s.dataset == "vectors", LONG)
    assert window.datasets.recent()[0] == sample.spec
    menu = window.datasets.recent_menu
    menu.aboutToShow.emit()
    entry = menu.actions()[0]
    assert entry.text() == "vectors.npz"
    entry.trigger()
    assert wait_dialog(qtbot, window).labels["Samples"].text() == "80"
    window.datasets.dialog.reject()

    window.datasets.augment_actions["shift"].trigger()
    wait_taken(qtbot, window, lambda s: s.config.augment == "shift", LONG)
    window.datasets.set_image_max_side(8)
    images = make("images", tmp_path / "img")
    assert drop(window, images.paths)
    dialog = wait_dialog(qtbot, window)
    assert dialog.labels["Input shape"].text().startswith("3 x 8 x 8")
    dialog.reject()


def test_the_last_dataset_is_restored_and_a_vanished_one_falls_back_quietly(main_window, qtbot, tmp_path,
                                                                           monkeypatch):
    from PySide6 import QtWidgets

    sample = make("csv", tmp_path)
    first = main_window("--device", "cpu")
    wait_step(qtbot, first, 1)
    first.datasets.open(sample.spec)
    wait_dialog(qtbot, first).accept()
    wait_taken(qtbot, first, lambda s: s.dataset == "iris", LONG)
    first.close()

    second = main_window("--device", "cpu")
    wait_step(qtbot, second, 1)
    assert second.snapshot.dataset == "iris" and len(second.session.dataset) == sample.samples
    second.close()

    sample.paths[0].unlink()
    boxes = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: boxes.append(a[2]))
    third = main_window("--device", "cpu")
    wait_step(qtbot, third, 1)
    assert third.snapshot.dataset.startswith("digits")
    qtbot.waitUntil(lambda: "Could not reopen" in third.statusBar().currentMessage(), timeout=LONG)
    assert "iris.csv" in third.statusBar().currentMessage()
    assert boxes == []  # quiet: no message box


def test_a_path_given_at_launch_loads_with_the_new_loaders(main_window, qtbot, tmp_path):
    sample = make("idx-gz-pair", tmp_path)
    folder = sample.paths[0].parent
    window = main_window(str(folder), "--device", "cpu")
    wait_step(qtbot, window, 1)
    data = window.session.trainer.data
    assert (len(data), data.num_classes, data.input_shape) == (50, 5, (1, 28, 28))
    assert window.snapshot.model == "cnn"
    assert np.isfinite(window.snapshot.latest["train_loss"])
