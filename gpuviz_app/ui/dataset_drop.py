"""Files and folders dropped anywhere on the window, the GL canvases included, open as a dataset.

Qt hands a drag to the innermost widget under the cursor that accepts drops, walking up
through its parents; the canvases do not accept drops, so the main window receives them.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets


def local_paths(mime: QtCore.QMimeData | None) -> list[str]:
    """The local files and folders a drag carries (nothing when any of it is not a local file)."""
    if mime is None or not mime.hasUrls():
        return []
    urls = mime.urls()
    if not urls or not all(u.isLocalFile() for u in urls):
        return []
    return [u.toLocalFile() for u in urls]


class DropTarget(QtCore.QObject):
    """An event filter on the main window that accepts file drags and opens what is dropped."""

    def __init__(self, window: QtWidgets.QMainWindow, actions) -> None:
        super().__init__(window)
        self.actions = actions
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
                self.actions.open(paths if len(paths) > 1 else paths[0])
                return True
        return False
