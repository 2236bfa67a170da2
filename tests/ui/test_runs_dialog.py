"""File > Runs…: the stored runs are listed, renamed on disk, deleted to the trash and brought back,
kept while they are being recorded, and opened in the window."""

from __future__ import annotations

import os
import threading

import pytest
from PySide6 import QtCore, QtGui

from gpuviz_app.sources.stored import ReplaySource
from gpuviz_app.store.layout import TRASH, read_meta, runs_dir
from gpuviz_app.ui.runs_dialog import COLUMNS, RunsDialog
from tests.stored_runs import write_stored_run


def listed(qtbot, **kwargs) -> RunsDialog:
    """A runs dialog over the test's runs directory, once every run is in the list."""
    opened: list[str] = []
    dialog = RunsDialog(opened.append, **kwargs)
    dialog.opened = opened
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.complete, timeout=30_000)
    return dialog


def cell(dialog: RunsDialog, path: str, column: str) -> str:
    return dialog.table.item(dialog.row_of(path), COLUMNS.index(column)).text()


@pytest.fixture
def runs():
    """Two stored runs in the test's runs directory: (steps 0..9, steps 0..4)."""
    return write_stored_run(runs_dir(), steps=(0, 2, 5, 9)), write_stored_run(runs_dir(), steps=(0, 4))


def test_the_stored_runs_are_listed_with_their_summary_and_where_they_are_kept(qtbot, runs):
    dialog = listed(qtbot)
    assert sorted(dialog.paths()) == sorted(runs)
    assert runs_dir() in dialog.findChild(type(dialog.message), "runs-where").text()
    first, second = runs
    assert cell(dialog, first, "Name") == "test run"
    assert (cell(dialog, first, "Dataset"), cell(dialog, first, "Model")) == ("digits", "mlp")
    assert (cell(dialog, first, "Steps"), cell(dialog, second, "Steps")) == ("9", "4")
    assert (cell(dialog, first, "Final loss"), cell(dialog, second, "Final loss")) == ("0.1", "0.2")
    assert cell(dialog, first, "Size").endswith("KB")
    dialog.table.sortByColumn(COLUMNS.index("Steps"), QtCore.Qt.SortOrder.AscendingOrder)
    assert dialog.paths() == [second, first]
    dialog.table.sortByColumn(COLUMNS.index("Final loss"), QtCore.Qt.SortOrder.AscendingOrder)
    assert dialog.paths() == [first, second]
    assert dialog.message.text() == "2 runs."


def test_a_rename_shows_the_new_name_and_is_kept_on_disk_and_a_bad_name_is_refused(qtbot, runs):
    dialog = listed(qtbot)
    run = runs[0]
    item = dialog.table.item(dialog.row_of(run), 0)
    item.setText("  baseline  ")  # what an edit in place ends with
    assert cell(dialog, run, "Name") == "baseline"
    assert read_meta(run)["name"] == "baseline"
    again = listed(qtbot)
    assert again.table.item(again.row_of(run), 0).text() == "baseline"  # read again
    dialog.table.item(dialog.row_of(run), 0).setText("   ")
    assert dialog.message.text() == "A run's name cannot be empty."
    assert cell(dialog, run, "Name") == "baseline" and read_meta(run)["name"] == "baseline"


def test_delete_moves_the_run_to_the_trash_and_undo_brings_it_back_with_its_files(qtbot, runs):
    dialog = listed(qtbot)
    run = runs[0]
    files = sorted(os.listdir(run))
    dialog.select(run)
    dialog.delete_button.click()
    assert not os.path.exists(run) and dialog.row_of(run) == -1
    assert os.listdir(os.path.join(runs_dir(), TRASH)) == [os.path.basename(run)]
    assert listed(qtbot).paths() == [runs[1]]
    assert dialog.undo_button.isEnabled()
    dialog.undo_button.click()
    assert sorted(os.listdir(run)) == files
    assert cell(dialog, run, "Steps") == "9" and dialog.selected_path() == run
    assert not dialog.undo_button.isEnabled()
    assert sorted(listed(qtbot).paths()) == sorted(runs)


def test_the_run_being_recorded_cannot_be_deleted(qtbot, runs):
    dialog = listed(qtbot, recording=lambda: [runs[1]])
    dialog.select(runs[1])
    dialog.delete_button.click()
    assert os.path.isdir(runs[1]) and dialog.row_of(runs[1]) >= 0
    assert "is being recorded now" in dialog.message.text()


def test_open_in_the_dialog_shows_the_run_in_the_window(qtbot, runs, monkeypatch):
    from gpuviz_app.ui import lifetime
    from gpuviz_app.ui.launch_options import LaunchOptions
    from gpuviz_app.ui.main_window import MainWindow

    monkeypatch.setenv("GPUVIZ_DISPLAY_BUDGET", "100")  # frames drawn as soon as they are taken
    threads_before = set(threading.enumerate())
    window = MainWindow(LaunchOptions(run=runs[0], views=("metrics",), listen=None))
    try:
        window.show()
        qtbot.waitExposed(window)
        qtbot.waitUntil(lambda: window.frames.drawn is not None and window.frames.drawn.step == 9, timeout=30_000)
        window.findChild(QtGui.QAction, "action-runs").trigger()
        dialog = window.runs_dialog
        qtbot.waitUntil(lambda: dialog.complete, timeout=30_000)
        dialog.table.itemDoubleClicked.emit(dialog.table.item(dialog.row_of(runs[1]), 0))
        qtbot.waitUntil(lambda: window.frames.drawn is not None and window.frames.drawn.step == 4, timeout=30_000)
        assert isinstance(window.source, ReplaySource) and window.source.frames.summary.path == runs[1]
        assert list(window.timeline.steps) == [0, 4]
    finally:
        window.close()
        if window.thread is not None:
            window.thread.wait(60_000)
        window.deleteLater()
    qtbot.wait(10)
    assert not lifetime.leaks()
    assert not [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive() and not t.daemon]


def test_the_window_keeps_its_live_run_from_deletion(main_window, qtbot):
    from tests.ui.conftest import wait_step

    window = main_window("--device", "cpu", "--steps", "3", "--views", "metrics")
    wait_step(qtbot, window, 3)
    qtbot.waitUntil(lambda: bool(window.recording.run_dirs()), timeout=30_000)
    (live,) = window.recording.run_dirs()
    window.findChild(QtGui.QAction, "action-runs").trigger()
    dialog = window.runs_dialog
    qtbot.waitUntil(lambda: dialog.complete, timeout=30_000)
    dialog.select(live)
    dialog.delete_button.click()
    assert os.path.isdir(live) and "is being recorded now" in dialog.message.text()
