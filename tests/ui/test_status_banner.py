"""A diverged run shows a red banner naming the step in the status bar; a healthy one shows none."""

import numpy as np
from PySide6 import QtWidgets

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.ui.status import StatusLine

BANNER_RGB = np.array([0xBF, 0x61, 0x6A])


def snapshot(**fields) -> Snapshot:
    return Snapshot(run_id=1, step=40, wall_time=0.0, metrics=MetricsHistory(), latest={}, dataset="digits",
                    model="mlp", **fields)


def red_pixels(widget: QtWidgets.QWidget) -> int:
    image = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB888)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    pixels = pixels[:, : image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)
    return int(np.all(np.abs(pixels - BANNER_RGB) < 12, axis=-1).sum())


def test_the_banner_says_when_training_diverged_and_goes_with_a_new_run(qtbot):
    window = QtWidgets.QMainWindow()
    qtbot.addWidget(window)
    window.resize(1000, 300)
    status = StatusLine(window.statusBar())
    window.show()
    qtbot.waitExposed(window)

    status.show_snapshot(snapshot(), 60.0)
    qtbot.wait(20)
    assert not status.banner.isVisible() and red_pixels(window.statusBar()) == 0

    line = "training diverged at step 37: the loss is NaN"
    status.show_snapshot(snapshot(diverged_step=37, diverged=line, paused=True), 60.0)
    qtbot.wait(20)
    assert status.banner.isVisible()
    assert status.banner.text().startswith(line) and "paused" in status.banner.text()
    assert status.labels["state"].text() == "diverged · paused"
    assert red_pixels(window.statusBar()) > 200  # drawn, in the banner's colour

    status.show_snapshot(snapshot(), 60.0)  # reset: a new run
    qtbot.wait(20)
    assert not status.banner.isVisible() and red_pixels(window.statusBar()) == 0
