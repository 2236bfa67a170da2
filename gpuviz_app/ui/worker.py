"""The thread that runs the training loop; the loop itself (core) knows nothing of Qt."""

from __future__ import annotations

from PySide6 import QtCore

from gpuviz_app.core.session import TrainingSession
from gpuviz_app.ui.lifetime import track_thread


class TrainingThread(QtCore.QThread):
    """Runs `session.run()`; `shutdown()` stops it and waits, with a deadline."""

    def __init__(self, session: TrainingSession, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("gpuviz-training")
        self.session = session
        track_thread(self)

    def run(self) -> None:
        self.session.run()

    def shutdown(self, timeout_ms: int = 1800) -> bool:
        """Stop the loop and join; True when the thread ended within the deadline."""
        self.session.stop()
        if not self.isRunning():
            return True
        return self.wait(QtCore.QDeadlineTimer(timeout_ms))
