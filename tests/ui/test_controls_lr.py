"""The learning-rate box shows exactly what training uses and cannot hold NaN, 0 or negatives."""

import pytest
from PySide6 import QtCore, QtWidgets

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.ui.controls import TrainingControls


@pytest.fixture
def controls(qtbot):
    window = QtWidgets.QMainWindow()
    qtbot.addWidget(window)
    sent = []
    bar = TrainingControls(window, lambda p: None, lambda: None, lambda: None, lambda **c: sent.append(c))
    window.addToolBar(bar)
    window.show()
    qtbot.waitExposed(window)
    bar.sent, bar.keep = sent, window  # the window lives as long as the test uses its toolbar
    return bar


def type_into(qtbot, box, text: str) -> None:
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), text)
    qtbot.keyClick(box.lineEdit(), QtCore.Qt.Key.Key_Return)
    box.clearFocus()


@pytest.mark.parametrize("lr", [1e-3, 1e-7, 3e-4, 0.00123456789, 10.0, 25.0, 1e8])
def test_what_the_box_shows_is_what_training_uses(controls, lr):
    controls.set_config(TrainConfig(lr=lr))
    assert controls.lr.value() == lr
    assert float(controls.lr.text()) == lr
    assert controls.sent == []  # showing a config sends nothing back


@pytest.mark.parametrize("text", ["nan", "-1", "0", "inf", "-0.01"])
def test_typing_a_bad_learning_rate_is_refused(qtbot, controls, text):
    controls.set_config(TrainConfig(lr=0.01))
    type_into(qtbot, controls.lr, text)
    assert controls.lr.value() == 0.01 and float(controls.lr.text()) == 0.01
    assert controls.sent == []


def test_typing_a_good_learning_rate_sends_it_exactly(qtbot, controls):
    type_into(qtbot, controls.lr, "2.5e-05")
    assert controls.sent == [{"lr": 2.5e-05}]
    assert controls.lr.text() == "2.5e-05"


def test_the_arrows_step_along_one_two_five(qtbot, controls):
    controls.set_config(TrainConfig(lr=1e-3))
    controls.lr.stepBy(1)
    controls.lr.stepBy(1)
    assert [c["lr"] for c in controls.sent] == pytest.approx([2e-3, 5e-3])
    controls.lr.stepBy(-3)
    assert controls.sent[-1]["lr"] == pytest.approx(5e-4)
    assert all(c["lr"] > 0 for c in controls.sent)
