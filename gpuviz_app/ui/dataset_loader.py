"""Loads a dataset on a thread of its own, with progress and cancel; the GUI thread only hears signals."""

from __future__ import annotations

import threading
from typing import Any

from PySide6 import QtCore

from gpuviz_app.data.dataset import DatasetError
from gpuviz_app.ui.lifetime import track_thread


class _LoadThread(QtCore.QThread):
    # each signal carries the thread itself, so the loader can drop a superseded load's news
    progress = QtCore.Signal(object, float, str)
    done = QtCore.Signal(object, object)  # (thread, a Dataset or the DatasetError that refused the input)

    def __init__(self, spec: Any, options: Any, parent: QtCore.QObject) -> None:
        super().__init__(parent)
        self.setObjectName("gpuviz-dataset-load")
        self.spec = spec
        self.options = options
        self.stop = threading.Event()
        track_thread(self)

    def run(self) -> None:
        from gpuviz_app.data.open import load_dataset

        try:
            result: object = load_dataset(self.spec, progress=lambda f, m: self.progress.emit(self, f, m),
                                          cancel=self.stop.is_set, options=self.options)
        except DatasetError as exc:
            result = exc
        self.done.emit(self, result)


class DatasetLoader(QtCore.QObject):
    """One load at a time: starting another cancels the one running (its result is dropped).

    Signals: `progress(fraction, message)`, `loaded(dataset, spec)`, `failed(path, reason, spec)`,
    `cancelled(spec)`.
    """

    progress = QtCore.Signal(float, str)
    loaded = QtCore.Signal(object, object)
    failed = QtCore.Signal(str, str, object)
    cancelled = QtCore.Signal(object)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._current: _LoadThread | None = None
        self._threads: list[_LoadThread] = []

    @property
    def busy(self) -> bool:
        return self._current is not None

    def start(self, spec: Any, options: Any = None) -> None:
        self.cancel()
        self._prune()
        thread = _LoadThread(spec, options, self)
        thread.progress.connect(self._on_progress)
        thread.done.connect(self._on_done)
        self._threads.append(thread)
        self._current = thread
        thread.start()

    def cancel(self) -> None:
        """Ask the running load to stop; it reports `cancelled` once it has."""
        if self._current is not None:
            self._current.stop.set()

    def shutdown(self, timeout_ms: int = 2000) -> None:
        """Cancel and join every load thread (the window is closing)."""
        self._current = None
        for thread in self._threads:
            thread.stop.set()
        for thread in self._threads:
            if thread.isRunning():
                thread.wait(QtCore.QDeadlineTimer(timeout_ms))
        self._prune()

    def _prune(self) -> None:
        for thread in [t for t in self._threads if t.isFinished()]:
            self._threads.remove(thread)
            thread.deleteLater()

    @QtCore.Slot(object, float, str)
    def _on_progress(self, thread: _LoadThread, fraction: float, message: str) -> None:
        if thread is self._current:
            self.progress.emit(fraction, message)

    @QtCore.Slot(object, object)
    def _on_done(self, thread: _LoadThread, result: object) -> None:
        if thread is not self._current:
            return
        self._current = None
        from gpuviz_app.data.formats.context import LoadCancelled

        if isinstance(result, LoadCancelled):
            self.cancelled.emit(thread.spec)
        elif isinstance(result, DatasetError):
            self.failed.emit(result.path, result.reason, thread.spec)
        else:
            self.loaded.emit(result, thread.spec)
