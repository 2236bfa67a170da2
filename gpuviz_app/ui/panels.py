"""A View's canvas with a row of controls generated from the View's options and actions."""

from __future__ import annotations

from typing import Any, Callable

from PySide6 import QtCore, QtWidgets

from gpuviz_app.render.canvas import ViewCanvas
from gpuviz_app.render.upload import UploadPath
from gpuviz_app.render.views.base import View

# Extra Qt controls for a view, by view name: "module:class(view, set_option, redraw, parent)".
EXTRA_CONTROLS = {"embedding": "gpuviz_app.ui.embedding_controls:EmbeddingControls"}


class ViewPanel(QtWidgets.QWidget):
    """Hosts one ViewCanvas; booleans become check boxes, choices combo boxes."""

    def __init__(self, views: list[View], upload: UploadPath, parent: QtWidgets.QWidget | None = None,
                 on_options: Callable[[View], None] | None = None) -> None:
        super().__init__(parent)
        self.views = views
        self.canvas = ViewCanvas(views, size=views[0].render_size, app="pyside6", upload=upload)
        self._on_options = on_options
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        bar = QtWidgets.QHBoxLayout()
        bar.setContentsMargins(6, 2, 6, 2)
        self.option_widgets: dict[str, QtWidgets.QWidget] = {}
        for view in views:
            for key, value in view.options().items():
                widget = self._option_widget(view, key, value)
                label = getattr(view, "option_labels", {}).get(key)
                if isinstance(widget, QtWidgets.QComboBox) and label:
                    bar.addWidget(QtWidgets.QLabel(label, self))
                if widget is not None:
                    self.option_widgets[f"{view.name}.{key}"] = widget
                    bar.addWidget(widget)
        for view in views:
            for key, label in getattr(view, "option_actions", {}).items():
                button = QtWidgets.QPushButton(label, self)
                button.clicked.connect(lambda _c=False, view=view, key=key: self._trigger(view, key))
                self.option_widgets[f"{view.name}.{key}"] = button
                bar.addWidget(button)
        bar.addStretch(1)
        if self.option_widgets:
            row = QtWidgets.QWidget()
            row.setLayout(bar)
            layout.addWidget(_scrolling(row, self))
        self.extras = [self._extra_controls(view) for view in views if view.name in EXTRA_CONTROLS]
        for extra in self.extras:  # a row of its own, so a narrow dock stays narrow
            extra.setContentsMargins(6, 0, 6, 2)
            layout.addWidget(_scrolling(extra, self))
        self.canvas.native.setParent(self)
        layout.addWidget(self.canvas.native, 1)

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt override
        """Rows of controls scroll rather than widen the panel, so docks can share the window."""
        return QtCore.QSize(160, 120)

    def _extra_controls(self, view: View) -> QtWidgets.QWidget:
        import importlib

        module, _, name = EXTRA_CONTROLS[view.name].partition(":")
        cls = getattr(importlib.import_module(module), name)
        return cls(view, lambda key, value, view=view: self._set(view, key, value), self.canvas.canvas.update, self)

    def _option_widget(self, view: View, key: str, value: Any) -> QtWidgets.QWidget | None:
        labels = getattr(view, "option_labels", {})
        label = labels.get(key, key.replace("_", " ").capitalize())
        choices = getattr(view, "option_choices", {}).get(key)
        if isinstance(value, bool):
            box = QtWidgets.QCheckBox(label, self)
            box.setChecked(value)
            box.toggled.connect(lambda v, view=view, key=key: self._set(view, key, bool(v)))
            return box
        if choices:
            combo = QtWidgets.QComboBox(self)
            combo.setToolTip(label)
            texts = getattr(view, "choice_labels", {}).get(key, {})
            for choice in choices:
                combo.addItem(texts.get(choice, str(choice)), choice)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            combo.currentIndexChanged.connect(
                lambda _i, view=view, key=key, combo=combo: self._set(view, key, combo.currentData()))
            return combo
        return None

    def _set(self, view: View, key: str, value: Any) -> None:
        view.set_option(key, value)
        view_changed = getattr(view, "invalidate", None)
        if view_changed:
            view_changed()
        self.canvas.canvas.update()
        if self._on_options:
            self._on_options(view)

    def _trigger(self, view: View, action: str) -> None:
        """An action button: the view records it; the window forwards its probe options."""
        view.trigger(action)
        if self._on_options:
            self._on_options(view)

    def sync_option_widgets(self) -> None:
        """Show the views' current options (after settings were restored)."""
        for view in self.views:
            for key, value in view.options().items():
                widget = self.option_widgets.get(f"{view.name}.{key}")
                if isinstance(widget, QtWidgets.QCheckBox):
                    widget.blockSignals(True)
                    widget.setChecked(bool(value))
                    widget.blockSignals(False)
                elif isinstance(widget, QtWidgets.QComboBox):
                    widget.blockSignals(True)
                    widget.setCurrentIndex(max(0, widget.findData(value)))
                    widget.blockSignals(False)
        for extra in self.extras:
            extra.sync()


def _scrolling(inner: QtWidgets.QWidget, parent: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
    """A row of controls that scrolls sideways when the panel is narrower than the row."""
    area = QtWidgets.QScrollArea(parent)
    area.setWidget(inner)
    area.setWidgetResizable(True)
    area.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
    area.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    area.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
    area.setFixedHeight(inner.sizeHint().height() + area.horizontalScrollBar().sizeHint().height())
    return area
