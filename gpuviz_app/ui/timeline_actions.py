"""The timeline in the window: the bar under the views, and opening a stored run or TensorBoard
log (`gpuviz open PATH`, or a run directory or log directory dropped on the window) to show it;
several run directories dropped at once open a compare window."""

from __future__ import annotations

import os

from PySide6 import QtCore, QtWidgets

from gpuviz_app.sources.base import RunSource
from gpuviz_app.sources.stored import ReplaySource
from gpuviz_app.store.open import is_openable, open_frames
from gpuviz_app.ui.timeline import FramesProvider, Timeline


class RunOpener:
    """Shows recorded runs in `window`: each opened on the training thread by a `ReplaySource`,
    with the timeline at its last step; the training toolbar is off while one is shown."""

    def __init__(self, window: QtWidgets.QMainWindow, timeline: Timeline) -> None:
        self.window = window
        self.timeline = timeline
        window.source_changed.connect(self._source_changed)

    def open(self, path: str) -> ReplaySource:
        """Show the run or log at `path` (read on the training thread; a failure is said on the bar)."""
        source = ReplaySource(lambda: open_frames(path), title=os.path.basename(os.path.normpath(path)))
        self.window.statusBar().showMessage(f"Opening {path}…", 5000)
        self.window.run_source(source)
        return source

    def open_if_run(self, path: str) -> bool:
        """A drop: open `path` if it is a run or a TensorBoard log, else leave it to the datasets."""
        if not is_openable(path):
            return False
        self.open(path)
        return True

    def compare_if_runs(self, paths: list[str]) -> bool:
        """A drop of several paths: compare them if every one is a run or a log, else leave them
        to the datasets."""
        if not all(is_openable(path) for path in paths):
            return False
        from gpuviz_app.ui.compare_window import open_compare

        self.window.compare_window = open_compare(paths, parent=self.window)
        return True

    def _source_changed(self, source: RunSource) -> None:
        live = not isinstance(source, ReplaySource)
        self.window.controls.setEnabled(live)
        for panel in self.window.panels.values():
            panel.set_probe_controls(live)


def install(window: QtWidgets.QMainWindow, provider: FramesProvider | None = None) -> RunOpener:
    """The timeline bar under the views (the opener's `timeline`), following each source the window
    shows, and the opener of recorded runs, also for drops."""
    timeline = Timeline(window.frames, window.controls.play, provider, window)
    window.addToolBar(QtCore.Qt.ToolBarArea.BottomToolBarArea, timeline)
    window.source_changed.connect(timeline.follow_source)
    opener = RunOpener(window, timeline)
    window.datasets.drop.on_run = opener.open_if_run
    window.datasets.drop.on_runs = opener.compare_if_runs
    return opener
