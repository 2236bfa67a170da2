"""SurfaceWait on its own: which exports wait, what is asked of the source, when they go ahead."""

from PySide6 import QtCore, QtWidgets

from gpuviz_app.core.commands import ProbeAction
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.probes.landscape.payload import LandscapePayload
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.ui.surface_wait import SurfaceWait


class Frames(QtCore.QObject):
    """What SurfaceWait uses of a FrameLoop."""

    snapshot_taken = QtCore.Signal(object)
    frame_drawn = QtCore.Signal(object)

    def __init__(self):
        super().__init__()
        self.sent = []
        self.source = self  # the run source: it only takes commands here
        self.snapshot = self.drawn = None

    def send(self, command):
        self.sent.append(command)

    def show(self, snap):
        self.snapshot = self.drawn = snap
        self.snapshot_taken.emit(snap)
        self.frame_drawn.emit(snap)


class Window(QtWidgets.QMainWindow):
    def __init__(self):
        super().__init__()
        self.panels = {"metrics": object(), "landscape": object()}

    def visible_panels(self):
        return self.panels


def snap(step, centre, state, progress=0.0):
    surface = LandscapePayload(state=state, centre_step=centre, progress=progress, step=step)
    return Snapshot(run_id=1, step=step, wall_time=0.0, metrics=MetricsHistory(capacity=2), latest={},
                    parts={"landscape": surface})


def setup(qtbot, timeout_s=600.0):
    window, frames = Window(), Frames()
    qtbot.addWidget(window)
    return window, frames, SurfaceWait(window, frames, timeout_s=timeout_s)


def test_an_export_waits_for_a_complete_grid_centred_at_its_step(qtbot):
    window, frames, wait = setup(qtbot)
    frames.show(snap(40, 0, "done"))
    done = []
    assert wait.then("a.png", lambda: done.append(frames.drawn.step))
    assert frames.sent == [ProbeAction("landscape", "recentre")] and wait.waiting and not done
    frames.show(snap(41, 40, "computing", 0.5))
    assert wait.progress.value() == 50 and not done
    frames.show(snap(42, 40, "done"))  # training went on meanwhile: a grid centred at 40 or later
    assert done == [42] and not wait.waiting and wait.note == ""
    frames.show(snap(43, 43, "done"))
    assert done == [42]  # once


def test_nothing_waits_without_the_surface_or_when_it_is_there(qtbot):
    window, frames, wait = setup(qtbot)
    done = []
    frames.show(snap(40, 0, "done"))
    wait.then("metrics.png", lambda: done.append(1), includes_surface=False)  # a view without it
    window.panels.pop("landscape")
    wait.then("b.png", lambda: done.append(2))  # the landscape is not on screen
    window.panels["landscape"] = object()
    frames.show(snap(40, 40, "done"))
    wait.then("c.png", lambda: done.append(3))  # already centred at the step shown
    frames.show(snap(40, 40, "error"))
    wait.then("d.png", lambda: done.append(4))  # a run without a surface says why instead
    assert done == [1, 2, 3, 4] and frames.sent == []


def test_a_grid_already_coming_is_not_asked_for_again(qtbot):
    window, frames, wait = setup(qtbot)
    frames.show(snap(300, 300, "computing", 0.2))  # the end of a run re-centred there already
    done = []
    wait.then("e.png", lambda: done.append(1))
    assert frames.sent == [] and wait.waiting
    wait.cancel()
    assert done == [] and not wait._timer.isActive()


def test_after_the_timeout_the_export_goes_ahead_and_says_where_the_surface_is_from(qtbot):
    window, frames, wait = setup(qtbot, timeout_s=0.0)
    frames.show(snap(40, 12, "computing", 0.25))
    done = []
    wait.then("f.png", lambda: done.append(1))
    qtbot.waitUntil(lambda: done == [1], timeout=10_000)
    assert "from step 12 (25% computed)" in wait.note
    assert "step 12" in window.statusBar().currentMessage() and not wait.widget.isVisible()


def test_cancel_drops_the_export(qtbot):
    window, frames, wait = setup(qtbot)
    frames.show(snap(40, 0, "done"))
    done = []
    wait.then("g.png", lambda: done.append(1))
    assert not wait.then("h.png", lambda: done.append(2))  # one export waits at a time
    wait.cancel_button.click()
    frames.show(snap(41, 40, "done"))
    assert done == [] and not wait.waiting
