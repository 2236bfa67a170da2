"""The main-window fixture: creates windows, closes them, and fails a test that leaks a thread or timer."""

from __future__ import annotations

import threading

import pytest


@pytest.fixture(autouse=True)
def _settings_in_tmp(tmp_path, qapp):
    """Qt computes its settings paths once per process; point them at this test's folder."""
    from PySide6 import QtCore

    for fmt in (QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Format.NativeFormat):
        QtCore.QSettings.setPath(fmt, QtCore.QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield


@pytest.fixture
def main_window(qtbot):
    from gpuviz_app.cli import launch_parser
    from gpuviz_app.ui import lifetime
    from gpuviz_app.ui.main_window import MainWindow

    made = []
    threads_before = set(threading.enumerate())

    def make(*argv: str, show: bool = True) -> MainWindow:
        window = MainWindow(launch_parser().parse_args(list(argv)))
        made.append(window)
        if show:
            window.show()
            qtbot.waitExposed(window)
        return window

    yield make
    for window in made:
        window.close()
        window.deleteLater()
    qtbot.wait(10)
    leaks = lifetime.leaks()
    stray = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive() and not t.daemon]
    assert not leaks, f"left running after the window closed: {leaks}"
    assert not stray, f"threads left running: {stray}"


def wait_step(qtbot, window, at_least: int, timeout: int = 30_000) -> None:
    qtbot.waitUntil(lambda: window.snapshot is not None and window.snapshot.step >= at_least, timeout=timeout)


def wait_drawn(qtbot, window, at_least: int = 0, timeout: int = 30_000) -> None:
    """Until the canvases were given a snapshot at `at_least` steps or later (and had time to paint)."""
    qtbot.waitUntil(lambda: window.drawn is not None and window.drawn.step >= at_least, timeout=timeout)
    qtbot.wait(100)
