"""The training toolbar: play/pause, step, reset, and the hyper-parameters that matter live."""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from PySide6 import QtCore, QtGui, QtWidgets

from gpuviz_app.core.config import MAX_SEED

OPTIMIZERS = (("Adam", "adam"), ("AdamW", "adamw"), ("SGD + momentum", "sgd"))
MODELS = (("Auto", "auto"), ("MLP", "mlp"), ("Small CNN", "cnn"))
LR_RANGE = (1e-12, 1e6)  # what the box offers; a learning rate set elsewhere widens it
_NUMBER_SO_FAR = re.compile(r"[0-9.eE+-]*")  # what typing a number can pass through


def _icon(widget: QtWidgets.QWidget, pixmap: QtWidgets.QStyle.StandardPixmap) -> QtGui.QIcon:
    return widget.style().standardIcon(pixmap)


class LearningRateBox(QtWidgets.QDoubleSpinBox):
    """The learning rate exactly as training uses it: no rounding to a few decimals (1e-05 reads
    as 1e-05, not 0.000010), only finite numbers above 0 accepted (anything else typed reverts
    to the last value), and the arrows step along 1, 2, 5, 10, 20, ..."""

    def __init__(self, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.setDecimals(323)  # Qt's most: a value is kept as the float it is
        self.setRange(*LR_RANGE)
        self.setValue(1e-3)

    def textFromValue(self, value: float) -> str:
        text = repr(float(value))
        return text[:-2] if text.endswith(".0") else text

    def valueFromText(self, text: str) -> float:
        return float(text)

    def validate(self, text: str, pos: int) -> QtGui.QValidator.State:
        try:
            value = float(text)
        except ValueError:
            ok_so_far = _NUMBER_SO_FAR.fullmatch(text)
            return QtGui.QValidator.State.Intermediate if ok_so_far else QtGui.QValidator.State.Invalid
        if not _NUMBER_SO_FAR.fullmatch(text.strip()):  # "nan", "inf": never typed in
            return QtGui.QValidator.State.Invalid
        if math.isfinite(value) and self.minimum() <= value <= self.maximum():
            return QtGui.QValidator.State.Acceptable
        return QtGui.QValidator.State.Intermediate

    def stepBy(self, steps: int) -> None:
        value = self.value()
        for _ in range(abs(steps)):
            value = _next_1_2_5(value, up=steps > 0)
        self.setValue(min(max(value, self.minimum()), self.maximum()))


def _next_1_2_5(value: float, up: bool) -> float:
    """The next number of the form 1, 2 or 5 times a power of ten above (or below) `value`."""
    exponent = math.floor(math.log10(value))
    marks = [m * 10.0**e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 5)]
    if up:
        return min(m for m in marks if m > value * (1 + 1e-9))
    return max(m for m in marks if m < value * (1 - 1e-9))


class TrainingControls(QtWidgets.QToolBar):
    """Sends every change through `on_config(**changes)` and `on_paused(bool)`."""

    def __init__(self, parent: QtWidgets.QWidget, on_paused: Callable[[bool], None],
                 on_step: Callable[[], None], on_reset: Callable[[], None],
                 on_config: Callable[..., None]) -> None:
        super().__init__("Training", parent)
        self.setObjectName("training-toolbar")
        self.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._on_paused, self._on_config = on_paused, on_config
        S = QtWidgets.QStyle.StandardPixmap

        self.play = QtGui.QAction(_icon(self, S.SP_MediaPause), "Pause", self)
        self.play.setCheckable(True)
        self.play.setShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_Space))
        self.play.setToolTip("Pause or resume training (Space)")
        self.play.toggled.connect(self._paused_toggled)
        self.step = QtGui.QAction(_icon(self, S.SP_MediaSkipForward), "Step", self)
        self.step.setShortcut(QtGui.QKeySequence("S"))
        self.step.setToolTip("Train one step and pause (S)")
        self.step.triggered.connect(on_step)
        self.reset = QtGui.QAction(_icon(self, S.SP_BrowserReload), "Reset", self)
        self.reset.setShortcut(QtGui.QKeySequence("Ctrl+R"))
        self.reset.setToolTip("Start again from fresh weights (Ctrl+R)")
        self.reset.triggered.connect(on_reset)
        for action in (self.play, self.step, self.reset):
            action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)
        self.addSeparator()

        self.lr = LearningRateBox(self)
        self.lr.setKeyboardTracking(False)
        self.lr.setToolTip("Learning rate (applies immediately)")
        self.lr.valueChanged.connect(lambda v: self._on_config(lr=float(v)))
        self._labelled("LR", self.lr)

        self.batch = QtWidgets.QSpinBox(self)
        self.batch.setRange(1, 2**31 - 1)
        self.batch.setKeyboardTracking(False)
        self.batch.setToolTip("Batch size (applies immediately)")
        self.batch.valueChanged.connect(lambda v: self._on_config(batch_size=int(v)))
        self._labelled("Batch", self.batch)

        self.optimizer = self._combo(OPTIMIZERS, "Optimiser (its state restarts when changed)", "optimizer")
        self._labelled("Optimiser", self.optimizer)
        self.model = self._combo(MODELS, "Model (changing it restarts the run)", "model")
        self._labelled("Model", self.model)

        self.seed = QtWidgets.QSpinBox(self)
        self.seed.setRange(0, MAX_SEED)
        self.seed.setKeyboardTracking(False)
        self.seed.setToolTip("Random seed (changing it restarts the run)")
        self.seed.valueChanged.connect(lambda v: self._on_config(seed=int(v)))
        self._labelled("Seed", self.seed)

    def _combo(self, items, tip: str, key: str) -> QtWidgets.QComboBox:
        combo = QtWidgets.QComboBox(self)
        for label, value in items:
            combo.addItem(label, value)
        combo.setToolTip(tip)
        combo.currentIndexChanged.connect(lambda _i: self._on_config(**{key: combo.currentData()}))
        return combo

    def _labelled(self, text: str, widget: QtWidgets.QWidget) -> None:
        label = QtWidgets.QLabel(f" {text} ", self)
        label.setBuddy(widget)
        self.addWidget(label)
        self.addWidget(widget)

    def _paused_toggled(self, paused: bool) -> None:
        S = QtWidgets.QStyle.StandardPixmap
        self.play.setText("Play" if paused else "Pause")
        self.play.setIcon(_icon(self, S.SP_MediaPlay if paused else S.SP_MediaPause))
        self._on_paused(paused)

    def set_paused(self, paused: bool) -> None:
        """Reflect a pause decided elsewhere (single step, an error) without echoing it back."""
        if self.play.isChecked() != paused:
            with QtCore.QSignalBlocker(self.play):
                self.play.setChecked(paused)
            S = QtWidgets.QStyle.StandardPixmap
            self.play.setText("Play" if paused else "Pause")
            self.play.setIcon(_icon(self, S.SP_MediaPlay if paused else S.SP_MediaPause))

    def set_config(self, config: Any) -> None:
        """Show `config` without sending it back as changes."""
        widgets = (self.lr, self.batch, self.optimizer, self.model, self.seed)
        blockers = [QtCore.QSignalBlocker(w) for w in widgets]
        self.lr.setRange(min(LR_RANGE[0], config.lr), max(LR_RANGE[1], config.lr))
        self.lr.setValue(config.lr)
        self.batch.setValue(config.batch_size)
        self.optimizer.setCurrentIndex(max(0, self.optimizer.findData(config.optimizer)))
        self.model.setCurrentIndex(max(0, self.model.findData(config.model)))
        self.seed.setValue(config.seed)
        del blockers
