"""The training toolbar: play/pause, step, reset, and the hyper-parameters that matter live."""

from __future__ import annotations

from typing import Any, Callable

from PySide6 import QtCore, QtGui, QtWidgets

OPTIMIZERS = (("Adam", "adam"), ("AdamW", "adamw"), ("SGD + momentum", "sgd"))
MODELS = (("Auto", "auto"), ("MLP", "mlp"), ("Small CNN", "cnn"))


def _icon(widget: QtWidgets.QWidget, pixmap: QtWidgets.QStyle.StandardPixmap) -> QtGui.QIcon:
    return widget.style().standardIcon(pixmap)


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

        self.lr = QtWidgets.QDoubleSpinBox(self)
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 10.0)
        self.lr.setStepType(QtWidgets.QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.lr.setKeyboardTracking(False)
        self.lr.setToolTip("Learning rate (applies immediately)")
        self.lr.valueChanged.connect(lambda v: self._on_config(lr=float(v)))
        self._labelled("LR", self.lr)

        self.batch = QtWidgets.QSpinBox(self)
        self.batch.setRange(1, 65536)
        self.batch.setKeyboardTracking(False)
        self.batch.setToolTip("Batch size (applies immediately)")
        self.batch.valueChanged.connect(lambda v: self._on_config(batch_size=int(v)))
        self._labelled("Batch", self.batch)

        self.optimizer = self._combo(OPTIMIZERS, "Optimiser (its state restarts when changed)", "optimizer")
        self._labelled("Optimiser", self.optimizer)
        self.model = self._combo(MODELS, "Model (changing it restarts the run)", "model")
        self._labelled("Model", self.model)

        self.seed = QtWidgets.QSpinBox(self)
        self.seed.setRange(0, 2**31 - 1)
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
        self.lr.setValue(config.lr)
        self.batch.setValue(config.batch_size)
        self.optimizer.setCurrentIndex(max(0, self.optimizer.findData(config.optimizer)))
        self.model.setCurrentIndex(max(0, self.model.findData(config.model)))
        self.seed.setValue(config.seed)
        del blockers
