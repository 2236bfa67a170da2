"""Controls of the embedding panel that plain options cannot express: layer, class filter, find."""

from __future__ import annotations

from typing import Any, Callable

from PySide6 import QtWidgets

from gpuviz_app.render.views.embedding import EmbeddingView
from gpuviz_app.ui.view_controls import ViewControls


class LayerCombo(QtWidgets.QComboBox):
    """The model's layers are known only once training started: refilled each time it opens."""

    def __init__(self, names: Callable[[], list[str]], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._names = names

    def refill(self, current: str) -> None:
        names = self._names() or [current]
        if current not in names:
            names = [current, *names]
        self.blockSignals(True)
        self.clear()
        for name in names:
            self.addItem(name, name)
        self.setCurrentIndex(max(0, self.findData(current)))
        self.blockSignals(False)

    def showPopup(self) -> None:
        self.refill(self.currentData() or "penultimate")
        super().showPopup()


class EmbeddingControls(ViewControls):
    """Layer choice, a class filter ("3, 8" or class names) and "find sample #"."""

    view: EmbeddingView

    def __init__(self, view: EmbeddingView, set_option: Callable[[str, Any], None], redraw: Callable[[], None],
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(view, set_option, redraw, parent)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.layer = LayerCombo(self._layer_names, self)
        self.layer.setToolTip("Layer whose activations are embedded")
        self.layer.currentIndexChanged.connect(lambda _i: self._set_option("layer", self.layer.currentData()))
        row.addWidget(self.layer)
        self.filter = QtWidgets.QLineEdit(self)
        self.filter.setPlaceholderText("classes (all)")
        self.filter.setToolTip("Show only these classes: names or numbers, separated by commas or spaces")
        self.filter.setMaximumWidth(120)
        self.filter.editingFinished.connect(lambda: self._set_option("class_filter", self.filter.text().strip()))
        row.addWidget(self.filter)
        self.find = QtWidgets.QSpinBox(self)
        self.find.setRange(0, 2**31 - 1)
        self.find.setPrefix("#")
        self.find.setToolTip("Find a sample by its index in the dataset")
        self.find.setKeyboardTracking(False)
        row.addWidget(self.find)
        self.go = QtWidgets.QPushButton("Find", self)
        self.go.clicked.connect(self.find_sample)
        self.find.editingFinished.connect(self.find_sample)
        row.addWidget(self.go)
        row.addStretch(1)
        self.sync()

    def probe_widgets(self) -> list[QtWidgets.QWidget]:
        return [self.layer]  # (stored frames embed the layer they were recorded with)

    def _layer_names(self) -> list[str]:
        frame = self.view.frame
        return list(frame.layers) if frame is not None else []

    def find_sample(self) -> bool:
        found = self.view.find_sample(self.find.value())
        self.find.setStyleSheet("" if found else "color: #bf616a")
        self.find.setToolTip("Find a sample by its index in the dataset" if found
                             else "That index is not in the embedded sample")
        self._redraw()
        return found

    def sync(self) -> None:
        options = self.view.options()
        self.layer.refill(options["layer"])
        self.filter.setText(options["class_filter"])
