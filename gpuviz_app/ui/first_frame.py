"""The launch's first frames: the central canvas's first paint, and its first paint that shows
trained steps, which everything the first trained frame does not need waits for.

Until then the docks make no canvas (a dock's canvas, visuals and first upload cost the GUI
thread, and its interpreter lock, while training is still starting), and whatever is meant to
start after it connects to `done`: the docks' canvases are made then, and fill in as their
probes' payloads come.
"""

from __future__ import annotations

from PySide6 import QtCore, QtOpenGLWidgets

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render import vispy_caches
from gpuviz_app.ui import timing
from gpuviz_app.ui.frame_loop import FrameLoop
from gpuviz_app.ui.panels import ViewPanel


def keep_first_frame(panel: ViewPanel) -> None:
    """The panel's GL widget keeps its frame between paints, so the paint that follows the
    window's first one (the window exposed) shows the start-up frame again instead of drawing it
    while torch loads (see `render.canvas`)."""
    native = panel.canvas.native
    native.setUpdateBehavior(QtOpenGLWidgets.QOpenGLWidget.UpdateBehavior.PartialUpdate)
    panel.canvas.canvas.keeps_frame = True


def shows_training(snap: Snapshot | None) -> bool:
    """A frame of trained steps: step 1 or later, with training losses to plot."""
    return snap is not None and snap.step >= 1 and snap.metrics.total("train_loss") >= 1


def will_not_train_soon(snap: Snapshot | None) -> bool:
    """Nothing trained is coming soon: the run is paused, finished or failed to start."""
    return snap is not None and (snap.paused or snap.finished or bool(snap.error))


class FirstFrames(QtCore.QObject):
    """Watches the central panel's paints. `done()` is emitted (once, outside the paint) after
    the first paint of a frame that shows training (`shows_training`), or of a run that will
    not train soon; the bench's start-up marks are taken at the end of those paints. (No time
    limit: on a loaded machine one would make the docks' canvases while training starts.)"""

    done = QtCore.Signal()

    def __init__(self, frames: FrameLoop, panel: ViewPanel, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._frames = frames
        self._panel = panel
        self.finished = False
        frames.frame_drawn.connect(self._drawn)
        self.done.connect(vispy_caches.save)  # the next launch's first frames render no glyph
        if panel.has_canvas:
            self._watch()
        else:
            panel.canvas_created.connect(self._watch)

    def _watch(self, *_) -> None:
        self._panel.canvas.canvas.events.draw.connect(self._painted, position="last")  # after the scene

    def _drawn(self, snap: Snapshot) -> None:
        """A frame that ends the wait is painted even when it changed nothing in the view (a run
        of no steps finishing at the step 0 already drawn)."""
        if not self.finished and (shows_training(snap) or will_not_train_soon(snap)):
            self._panel.redraw()

    def _painted(self, event: object = None) -> None:
        timing.mark("window_shown")
        drawn = self._frames.drawn
        if shows_training(drawn):
            timing.mark("first_training_frame", step=drawn.step, losses=drawn.metrics.total("train_loss"))
        elif not will_not_train_soon(drawn):
            return
        self._panel.canvas.canvas.events.draw.disconnect(self._painted)
        self.finished = True
        QtCore.QTimer.singleShot(0, self, self.done.emit)
