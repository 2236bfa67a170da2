"""Scripts attached from other processes: the window's listener and its Runs menu.

The window listens (`sources.remote.Listener`) at the address the command line gave (by
default this user's Unix socket), from its first frame on. When a script's `gpuviz_app.attach` reaches it, the views
switch to that run; the Runs menu lists every run heard from (script, name, pid, host, step,
steps/s, finished) and switches the views to the one chosen. A run whose script ended stays in
the list. The listener's callbacks come on its own thread and reach Qt through a signal.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Callable

from PySide6 import QtCore, QtGui, QtWidgets

from gpuviz_app.sources.address import TOKEN_ENV, AddressError, is_local
from gpuviz_app.sources.base import RunSource

if TYPE_CHECKING:  # imported when the window starts listening, after its first trained frame
    from gpuviz_app.sources.remote import Listener, RemoteRun

log = logging.getLogger(__name__)


class AttachedRuns(QtCore.QObject):
    """Owns the listener; `runs()` the runs heard from, `shown` the one the views follow (or None).

    Signal `run_appeared(run)` in the GUI thread when a new script attaches."""

    run_appeared = QtCore.Signal(object)
    _heard = QtCore.Signal(object)  # from the listener's thread

    def __init__(self, window: QtWidgets.QMainWindow, menu: QtWidgets.QMenu, address: str,
                 run_source: Callable[[RunSource], None],
                 shown_probes: Callable[[], set[str]] | None = None) -> None:
        super().__init__(window)
        self.menu = menu
        self.run_source = run_source
        self.shown_probes = shown_probes  # the probes the window's views need, said to every script
        self.shown: RemoteRun | None = None
        self.listener: Listener | None = None
        self.address = address
        self.problem = "starting"
        self._heard.connect(self._appeared, QtCore.Qt.ConnectionType.QueuedConnection)
        menu.aboutToShow.connect(self._fill_menu)
        window.installEventFilter(self)

    def start(self) -> None:
        """Listen from now on (once; zmq is imported here, after the window's first frame)."""
        if self.listener is not None or self.problem != "starting":
            return
        token = os.environ.get(TOKEN_ENV, "")
        try:
            network = bool(self.address) and not is_local(self.address)
            shown = self.shown_probes() if self.shown_probes is not None else None
            from gpuviz_app.sources.remote import Listener

            self.listener = Listener(self.address or None, token=token, allow_network=network,
                                     on_run=self._heard.emit, shown=shown)
            self.problem = ""
        except AddressError as exc:
            self.problem = str(exc)
            log.warning("gpuviz: not listening for scripts: %s", exc)

    def runs(self) -> list[RemoteRun]:
        return self.listener.runs() if self.listener is not None else []

    def show_run(self, run: RemoteRun) -> None:
        """The views follow `run` from now on."""
        self.shown = run
        self.run_source(run)

    def close(self) -> None:
        self.problem = "closed"
        if self.listener is not None:
            self.listener.close()

    def _appeared(self, run: RemoteRun) -> None:
        self.show_run(run)
        self.run_appeared.emit(run)

    def _fill_menu(self) -> None:
        self.menu.clear()
        if self.listener is None:
            self.menu.addAction(f"Not listening: {self.problem}" if self.problem != "starting"
                                else "Listening once training has started").setEnabled(False)
            return
        runs = self.runs()
        if not runs:
            self.menu.addAction(f"No script attached yet (listening on {self.listener.address})").setEnabled(False)
            return
        group = QtGui.QActionGroup(self.menu)
        for run in runs:
            action = self.menu.addAction(describe(run))
            action.setCheckable(True)
            action.setChecked(run is self.shown)
            action.setActionGroup(group)
            action.triggered.connect(lambda _=False, r=run: self.show_run(r))

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.Close:
            self.close()
        return False


def describe(run: RemoteRun) -> str:
    """One line for a run: script, name, pid and host, step, rate, whether it has ended, and how
    its payloads arrive (CUDA IPC, or host bytes and why)."""
    state = "finished" if run.finished else f"{run.steps_per_s:,.0f} steps/s"
    transport = f", payloads by {run.transport}" if run.transport else ""
    return f"{run.title}: step {run.step:,}, {state}{transport}"


def install(window: QtWidgets.QMainWindow, address: str | None, run_source: Callable[[RunSource], None],
            start: QtCore.SignalInstance, shown_probes: Callable[[], set[str]] | None = None) -> AttachedRuns | None:
    """The Runs menu (before Help) and its listener, started by the `start` signal (the window's
    first frame: nothing competes with torch's import before), or None when the window should not listen."""
    if address is None:
        return None
    bar = window.menuBar()
    help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
    menu = QtWidgets.QMenu("&Runs", bar)
    if help_menu is not None:
        bar.insertMenu(help_menu, menu)
    else:
        bar.addMenu(menu)
    runs = AttachedRuns(window, menu, address, run_source, shown_probes)
    start.connect(runs.start)
    return runs
