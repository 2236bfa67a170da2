"""Files and folders dropped anywhere on the window, the GL canvases included, open as a dataset;
one Python script dropped alone goes to `on_script` instead (which asks before running it), and
one stored run or TensorBoard log to `on_run`.

Qt hands a drag to the innermost widget under the cursor that accepts drops, walking up
through its parents; the canvases do not accept drops, so the main window receives them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6 import QtCore, QtWidgets


def local_paths(mime: QtCore.QMimeData | None) -> list[str]:
    """The local files and folders a drag carries (nothing when any of it is not a local file)."""
    if mime is None or not mime.hasUrls():
        return []
    urls = mime.urls()
    if not urls or not all(u.isLocalFile() for u in urls):
        return []
    return [u.toLocalFile() for u in urls]


def dropped_script(paths: list[str]) -> str | None:
    """The script when a drop is one `.py` file, else None."""
    if len(paths) == 1 and Path(paths[0]).suffix.lower() == ".py" and Path(paths[0]).is_file():
        return paths[0]
    return None


class DropTarget(QtCore.QObject):
    """An event filter on the main window that accepts file drags and opens what is dropped.
    `on_script(path)` receives a lone dropped `.py` file (when unset, it is opened as any file);
    `on_run(path)` is offered any other lone path first and returns whether it opened it;
    `on_runs(paths)` is offered several paths first (stored runs to compare)."""

    def __init__(self, window: QtWidgets.QMainWindow, actions) -> None:
        super().__init__(window)
        self.actions = actions
        self.on_script: Callable[[str], None] | None = None
        self.on_run: Callable[[str], bool] | None = None
        self.on_runs: Callable[[list[str]], bool] | None = None
        self.dropped: list[list[str]] = []
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        if kind in (QtCore.QEvent.Type.DragEnter, QtCore.QEvent.Type.DragMove):
            if local_paths(event.mimeData()):
                event.acceptProposedAction()
                return True
        elif kind == QtCore.QEvent.Type.Drop:
            paths = local_paths(event.mimeData())
            if paths:
                event.acceptProposedAction()
                self.dropped.append(paths)
                script = dropped_script(paths)
                if script is not None and self.on_script is not None:
                    self.on_script(script)
                elif len(paths) == 1:
                    if not (self.on_run is not None and self.on_run(paths[0])):
                        self.actions.open(paths[0])
                elif not (self.on_runs is not None and self.on_runs(paths)):
                    self.actions.open(paths)
                return True
        return False
