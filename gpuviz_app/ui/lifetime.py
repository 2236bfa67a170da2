"""Every QThread and QTimer gpuviz starts is registered here, so tests can catch leaks."""

from __future__ import annotations

import weakref
from typing import Callable

from PySide6 import QtCore

_timers: "weakref.WeakSet[QtCore.QTimer]" = weakref.WeakSet()
_threads: "weakref.WeakSet[QtCore.QThread]" = weakref.WeakSet()


def make_timer(parent: QtCore.QObject, interval_ms: int, slot: Callable[[], None],
               single_shot: bool = False) -> QtCore.QTimer:
    timer = QtCore.QTimer(parent)
    timer.setInterval(interval_ms)
    timer.setSingleShot(single_shot)
    timer.timeout.connect(slot)
    _timers.add(timer)
    return timer


def track_thread(thread: QtCore.QThread) -> QtCore.QThread:
    _threads.add(thread)
    return thread


def _alive(obj: QtCore.QObject, check: Callable[[], bool]) -> bool:
    try:
        return check()
    except RuntimeError:  # the C++ object is already deleted
        return False


def leaks() -> list[str]:
    """Descriptions of gpuviz timers still active and threads still running."""
    found = [f"timer {t.objectName() or hex(id(t))} is still active" for t in list(_timers)
             if _alive(t, t.isActive)]
    found += [f"thread {t.objectName() or hex(id(t))} is still running" for t in list(_threads)
              if _alive(t, t.isRunning)]
    return found
