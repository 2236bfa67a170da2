"""Before an export: the loss surface brought to the weights the exported step names.

A screenshot or the start of a recording shows every panel at one step, and the loss surface
is only true to that step once a grid centred there is complete. When the landscape view is in
the picture and its grid is centred elsewhere (or still refining), the probe is asked to
re-centre through the source's command queue (`ProbeAction`: training never waits for it), and
the export goes ahead at the first drawn frame whose grid is complete and centred at the step
asked for or later. The window stays live meanwhile: the status bar shows the progress and a
Cancel button, and after `timeout_s` the export goes ahead anyway and the status line says
which step the surface is from.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6 import QtCore, QtWidgets

from gpuviz_app.core.commands import ProbeAction
from gpuviz_app.core.probes.landscape.payload import RECENTRE
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.sources.stored import ReplaySource
from gpuviz_app.ui.frame_loop import FrameLoop
from gpuviz_app.ui.lifetime import make_timer

LANDSCAPE = "landscape"  # the view, and the probe it reads
TIMEOUT_S = 30.0  # at most this long before an export goes ahead with the surface as it is


def surface_of(snap: Snapshot | None) -> Any:
    """The landscape payload a snapshot carries (None when it carries none)."""
    return None if snap is None else snap.parts.get(LANDSCAPE)


def centred_at(snap: Snapshot | None) -> bool:
    """Whether `snap`'s surface is complete and centred on `snap`'s own weights (or it has none
    to wait for: a run without a loss function says why instead)."""
    p = surface_of(snap)
    if p is None:
        return False
    return p.state == "error" or (p.state == "done" and p.centre_step == snap.step)


class SurfaceWait(QtCore.QObject):
    """Runs exports once the drawn loss surface is centred on the drawn weights; see the module.

    `window` is the main window (its status bar holds the progress, its `visible_panels()`
    say whether the landscape is on screen), `frames` its frame loop (its source takes the
    re-centre command, its signals say when a settled frame was drawn). One export waits at a
    time; `waiting_changed(bool)` says when one starts and ends."""

    waiting_changed = QtCore.Signal(bool)

    def __init__(self, window: QtWidgets.QMainWindow, frames: FrameLoop, timeout_s: float = TIMEOUT_S) -> None:
        super().__init__(window)
        self.window = window
        self.frames = frames
        self._export: Callable[[], None] | None = None
        self._what = ""
        self._since = 0  # the step the surface must be centred at, or after
        self._run_id = 0
        self.note = ""  # what the last export that went ahead without a complete surface showed
        self._timer = make_timer(self, int(timeout_s * 1000), self._time_out, single_shot=True)
        self._timer.setObjectName("gpuviz-surface-wait")

        self.widget = QtWidgets.QWidget(window)
        self.widget.setObjectName("surface-wait")
        row = QtWidgets.QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        self.label = QtWidgets.QLabel(self.widget)
        self.progress = QtWidgets.QProgressBar(self.widget)
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(120)
        self.progress.setToolTip("The loss surface around the current weights, computed before the export")
        self.cancel_button = QtWidgets.QToolButton(self.widget)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Do not export")
        self.cancel_button.clicked.connect(self.cancel)
        for w in (self.label, self.progress, self.cancel_button):
            row.addWidget(w)
        window.statusBar().insertPermanentWidget(0, self.widget)
        self.widget.hide()

    @property
    def waiting(self) -> bool:
        return self._export is not None

    def needed(self, includes_surface: bool) -> bool:
        """Whether an export that shows the landscape view (`includes_surface`) must wait now."""
        if not includes_surface or self.frames.source is None or self.frames.snapshot is None \
                or LANDSCAPE not in self.window.visible_panels():
            return False
        if isinstance(self.frames.source, ReplaySource):
            return False  # a recorded step is exported as it was shown: nothing would re-centre it
        return not centred_at(self.frames.drawn)

    def then(self, what: str, export: Callable[[], None], includes_surface: bool = True) -> bool:
        """Run `export` (`what` names it in the status line) once the surface is centred on the
        weights shown, at once when nothing needs waiting for. False when another export is
        still waiting (this one is dropped and the status line says so)."""
        if self.waiting:
            self.window.statusBar().showMessage(f"Still waiting to export {self._what}", 5000)
            return False
        if not self.needed(includes_surface):
            export()
            return True
        newest = self.frames.snapshot
        self._export, self._what = export, what
        self._since, self._run_id = newest.step, newest.run_id
        p = surface_of(newest)
        if p is None or p.centre_step < newest.step or p.state not in ("computing", "done"):
            self.frames.source.send(ProbeAction(LANDSCAPE, RECENTRE))  # else one is coming already
        self.frames.snapshot_taken.connect(self._show_progress)
        self.frames.frame_drawn.connect(self._on_drawn)
        self._timer.start()
        self.label.setText(f"Loss surface at step {self._since:,} for {what}")
        self.progress.setValue(0)
        self.widget.show()
        self.waiting_changed.emit(True)
        return True

    def ready(self, snap: Snapshot) -> bool:
        """Whether `snap`'s surface is complete and centred at the step asked for, or later."""
        p = surface_of(snap)
        if p is None:
            return False
        since = self._since if snap.run_id == self._run_id else 0
        return p.state == "error" or (p.state == "done" and p.centre_step >= since)

    def cancel(self) -> None:
        """Drop the waiting export (nothing is written)."""
        if self._end() is not None:
            self.window.statusBar().showMessage(f"Cancelled: {self._what}", 5000)

    # -- internals ---------------------------------------------------------------------------
    def _show_progress(self, snap: Snapshot) -> None:
        p = surface_of(snap)
        if p is not None and p.centre_step >= self._since:
            self.progress.setValue(int(100 * (1.0 if p.state == "done" else p.progress)))

    def _on_drawn(self, snap: Snapshot) -> None:
        if self.ready(snap) or LANDSCAPE not in self.window.visible_panels():  # done, or no longer shown
            export = self._end()
            if export is not None:
                export()

    def _time_out(self) -> None:
        drawn = self.frames.drawn
        export = self._end()
        if export is None:
            return
        p = surface_of(drawn)
        if p is not None and p.centre_step >= 0:
            state = "complete" if p.state == "done" else f"{100 * p.progress:.0f}% computed"
            note = f"the loss surface was from step {p.centre_step:,} ({state})"
        else:
            note = "the loss surface was not computed yet"
        export()
        self.note = f"exported {self._what} while {note}"
        self.window.statusBar().showMessage(self.note[0].upper() + self.note[1:], 15000)

    def _end(self) -> Callable[[], None] | None:
        export, self._export = self._export, None
        if export is None:
            return None
        self._timer.stop()
        self.frames.snapshot_taken.disconnect(self._show_progress)
        self.frames.frame_drawn.disconnect(self._on_drawn)
        self.widget.hide()
        self.waiting_changed.emit(False)
        return export
