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
    """`main_window(*argv, show=True, pacer=None)`: a window for the launch command's arguments."""
    from gpuviz_app.cli import launch_options
    from gpuviz_app.ui import lifetime
    from gpuviz_app.ui.main_window import MainWindow

    made = []
    threads_before = set(threading.enumerate())

    def make(*argv: str, show: bool = True, pacer=None) -> MainWindow:
        window = MainWindow(launch_options(argv), pacer=pacer)
        made.append(window)
        if show:
            window.show()
            qtbot.waitExposed(window)
        return window

    yield make
    for window in made:
        window.close()
        if window.thread is not None:
            window.thread.wait(60_000)  # a step (or torch's first import) cannot be cut short
        window.deleteLater()
    qtbot.wait(10)
    leaks = lifetime.leaks()
    stray = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive() and not t.daemon]
    assert not leaks, f"left running after the window closed: {leaks}"
    assert not stray, f"threads left running: {stray}"


def wait_for(qtbot, signal, current, check, timeout: int) -> None:
    """Return once `check(snapshot)` holds for `current` (the loop's snapshot now) or for a
    snapshot `signal` carries."""
    if current is not None and check(current):
        return
    with qtbot.waitSignal(signal, check_params_cb=check, timeout=timeout):
        pass


def wait_taken(qtbot, window, check, timeout: int = 30_000) -> None:
    """Until the window has taken a snapshot for which `check(snapshot)` holds."""
    frames = window.frames
    wait_for(qtbot, frames.snapshot_taken, frames.snapshot, check, timeout)


def wait_frame(qtbot, window, check, timeout: int = 30_000) -> None:
    """Until the panels were given a snapshot for which `check(snapshot)` holds."""
    frames = window.frames
    wait_for(qtbot, frames.frame_drawn, frames.drawn, check, timeout)


def wait_step(qtbot, window, at_least: int, timeout: int = 30_000) -> None:
    """Until the window has taken a snapshot at `at_least` steps or later."""
    wait_taken(qtbot, window, lambda snap: snap.step >= at_least, timeout)


def wait_drawn(qtbot, window, at_least: int = 0, timeout: int = 30_000) -> None:
    """Until the panels were given a snapshot at `at_least` steps or later (and had time to paint)."""
    wait_frame(qtbot, window, lambda snap: snap.step >= at_least, timeout)
    qtbot.wait(100)
