"""The window's training thread passes from one run source to the next, whatever the timing."""

from __future__ import annotations

import threading

from gpuviz_app.core.commands import CommandMethods
from gpuviz_app.core.mailbox import Mailbox


class InstantSource(CommandMethods):
    """A source like an attached run: `run` waits for `stop`, and `stop` returns only once the
    thread that ran it has ended (its `finished` already emitted), the worst case for a switch."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.started = threading.Event()
        self._stop = threading.Event()
        self._thread = None

    def send(self, command) -> None:
        pass

    def pace_probes(self) -> None:
        pass

    def want_probes(self) -> None:
        pass

    def run(self) -> None:
        from PySide6 import QtCore

        self._thread = QtCore.QThread.currentThread()
        self.started.set()
        self._stop.wait()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.wait(10_000)


def test_a_source_that_ends_as_soon_as_it_is_stopped_is_followed_by_the_next(main_window, qtbot):
    window = main_window("builtin:moons", "--device", "cpu", "--views", "metrics", show=False)
    sources = [InstantSource() for _ in range(3)]
    for source in sources:
        window.run_source(source)
        qtbot.waitUntil(lambda source=source: window.source is source and source.started.is_set(), timeout=10_000)
    assert window.thread.isRunning() and window.thread.session is sources[-1]
