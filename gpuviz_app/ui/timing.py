"""Start-up and throughput marks for `gpuviz bench`, written only when GPUVIZ_TIMING names a file.

The benchmark starts the real app in a fresh process; the window records when it was first
painted, when the first training frame was painted (with the step and the number of losses
that frame showed), and (step, time) pairs of the snapshots it saw, and writes them as JSON
when it closes. With GPUVIZ_TIMING_QUIT_AT naming a mark, the window closes once that mark is
taken, so a start-up measurement does not wait for a whole run.
"""

from __future__ import annotations

import json
import os
import time

_PATH = os.environ.get("GPUVIZ_TIMING")
_QUIT_AT = os.environ.get("GPUVIZ_TIMING_QUIT_AT")
_marks: dict[str, float] = {}
_details: dict[str, dict] = {}
_samples: list[tuple[int, float]] = []


def mark(name: str, **details: float) -> None:
    """The first time `name` happens (later ones are ignored), with what it showed."""
    if not _PATH or name in _marks:
        return
    _marks[name] = time.time()
    if details:
        _details[name] = details
    if name == _QUIT_AT:
        from PySide6 import QtCore, QtWidgets

        QtCore.QTimer.singleShot(0, QtWidgets.QApplication.closeAllWindows)


def sample(step: int, wall_time: float) -> None:
    if _PATH:
        _samples.append((step, wall_time))


def write() -> None:
    if not _PATH:
        return
    with open(_PATH, "w") as f:
        json.dump({"marks": _marks, "details": _details, "samples": _samples}, f)
