"""A View's canvas with rows of controls built from the View's declared options and actions.

The canvas is created when the panel is first painted on screen: a dock tab behind another
costs no GL context, no visuals and no uploads until someone looks at it, at start-up too.
The window can also hold a panel's canvas back (`defer_canvas`) until the launch's first
trained frame is on screen (`allow_canvas`).
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6 import QtCore, QtGui, QtWidgets

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.canvas import ViewCanvas
from gpuviz_app.render.upload import UploadPath
from gpuviz_app.render.views.base import CHECK, CHOICE, Option, View
from gpuviz_app.ui.embedding_controls import EmbeddingControls
from gpuviz_app.ui.flow_layout import FlowLayout
from gpuviz_app.ui.view_controls import ViewControls

# The smallest canvas a view stays readable at (width, height): a panel never gets less.
MIN_CANVAS = (300, 200)

# A view's own controls, for the options a check box or a combo box cannot show, by view name.
EXTRA_CONTROLS: dict[str, type[ViewControls]] = {"embedding": EmbeddingControls}


class ViewPanel(QtWidgets.QWidget):
    """Hosts one ViewCanvas; boolean options become check boxes, choices combo boxes, actions
    buttons. `on_options(view)` follows every option change (save it, tell the probe);
    `on_action(view, name)` carries an action to the view's probe. `probes=False`: the panel shows
    stored payloads only, so settings only a probe acts on, and actions, get no control."""

    canvas_created = QtCore.Signal(object)  # the new ViewCanvas
    upload_changed = QtCore.Signal(object)  # the UploadPath the canvas now writes through

    def __init__(self, views: list[View], upload: UploadPath, parent: QtWidgets.QWidget | None = None,
                 on_options: Callable[[View], None] | None = None,
                 on_action: Callable[[View, str], None] | None = None, probes: bool = True) -> None:
        super().__init__(parent)
        self.views = list(views)
        self.probes = probes
        self.canvas: ViewCanvas | None = None
        self._upload = upload
        self._device: str | None = None
        self._configured_for: str | None = None
        self._awaiting_draw = False
        self._creation_due = False
        self._deferred = False
        self._waiting: Snapshot | None = None  # the newest snapshot pushed before the canvas existed
        self._on_options = on_options
        self._on_action = on_action
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self.option_widgets: dict[str, QtWidgets.QWidget] = {}
        self._probe_keys: list[str] = []  # option widgets of settings and actions only a probe acts on
        self._build_option_row()
        self.extras: list[ViewControls] = [self._extra_controls(view) for view in self.views
                                           if view.name in EXTRA_CONTROLS]
        for extra in self.extras:  # a row of its own, so a narrow dock stays narrow
            if not probes:
                for widget in extra.probe_widgets():
                    widget.hide()
            extra.setContentsMargins(6, 0, 6, 2)
            self._layout.addWidget(_scrolling(extra, self))
        self._placeholder: _CanvasPlaceholder | None = _CanvasPlaceholder(self.views[0].render_size,
                                                                         self._placeholder_painted, self)
        self._placeholder.setMinimumSize(*MIN_CANVAS)  # the option row wraps rather than widen the panel
        self._layout.addWidget(self._placeholder, 1)

    # -- controls --------------------------------------------------------------------------------
    def _build_option_row(self) -> None:
        """The options and actions flow onto as many lines as the panel's width needs; a choice
        keeps its label beside it."""
        row = QtWidgets.QWidget(self)
        flow = FlowLayout(row)
        flow.setContentsMargins(6, 2, 6, 2)
        for view in self.views:
            for option in view.OPTIONS:
                if option.probe and not self.probes:
                    continue
                widget = self._option_widget(view, option)
                if widget is None:
                    continue
                self.option_widgets[f"{view.name}.{option.name}"] = widget
                if option.probe:
                    self._probe_keys.append(f"{view.name}.{option.name}")
                if option.control == CHOICE and option.label:
                    widget = _labelled(option.label, widget, row)
                flow.addWidget(widget)
        for view in self.views if self.probes else ():
            for action in view.ACTIONS:
                button = QtWidgets.QPushButton(action.label, self)
                button.clicked.connect(lambda _c=False, view=view, name=action.name: self._act(view, name))
                self.option_widgets[f"{view.name}.{action.name}"] = button
                self._probe_keys.append(f"{view.name}.{action.name}")
                flow.addWidget(button)
        if self.option_widgets:
            policy = QtWidgets.QSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                           QtWidgets.QSizePolicy.Policy.Preferred)
            policy.setHeightForWidth(True)
            row.setSizePolicy(policy)
            self._layout.addWidget(row)
        else:
            row.deleteLater()

    def set_probe_controls(self, enabled: bool) -> None:
        """Enable the controls only a running probe acts on, or grey them out (a stored run is shown)."""
        tip = "" if enabled else "A stored run shows what was recorded: this needs a run that trains"
        for widget in [self.option_widgets[key] for key in self._probe_keys] + [
                w for extra in self.extras for w in extra.probe_widgets()]:
            widget.setEnabled(enabled)
            widget.setStatusTip(tip)

    def _option_widget(self, view: View, option: Option) -> QtWidgets.QWidget | None:
        value = view.options()[option.name]
        if option.control == CHECK:
            box = QtWidgets.QCheckBox(option.text, self)
            box.setChecked(value)
            box.toggled.connect(lambda v, view=view, key=option.name: self._set(view, key, bool(v)))
            return box
        if option.control == CHOICE:
            combo = QtWidgets.QComboBox(self)
            combo.setToolTip(option.text)
            for choice in option.choices:
                combo.addItem(option.choice_text(choice), choice)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            combo.currentIndexChanged.connect(
                lambda _i, view=view, key=option.name, combo=combo: self._set(view, key, combo.currentData()))
            return combo
        return None  # shown by the view's own controls (EXTRA_CONTROLS)

    def _extra_controls(self, view: View) -> ViewControls:
        return EXTRA_CONTROLS[view.name](view, lambda key, value, view=view: self._set(view, key, value),
                                         self.redraw, self)

    def _set(self, view: View, key: str, value: Any) -> None:
        view.set_option(key, value)
        self.redraw()
        if self._on_options:
            self._on_options(view)

    def _act(self, view: View, action: str) -> None:
        if self._on_action:
            self._on_action(view, action)

    def sync_option_widgets(self) -> None:
        """Show the views' current options (after settings were restored)."""
        for view in self.views:
            options = view.options()
            for option in view.OPTIONS:
                widget = self.option_widgets.get(f"{view.name}.{option.name}")
                if widget is None:
                    continue
                widget.blockSignals(True)
                if isinstance(widget, QtWidgets.QCheckBox):
                    widget.setChecked(bool(options[option.name]))
                elif isinstance(widget, QtWidgets.QComboBox):
                    widget.setCurrentIndex(max(0, widget.findData(options[option.name])))
                widget.blockSignals(False)
        for extra in self.extras:
            extra.sync()

    # -- the canvas, created when first shown ------------------------------------------------------
    @property
    def has_canvas(self) -> bool:
        return self.canvas is not None

    def create_canvas_now(self) -> None:
        """For a panel that is always on screen (the central view): its canvas is painted with
        the window's first paint, before training starts loading torch on another thread."""
        if self.canvas is None:
            self._create_canvas()

    def defer_canvas(self) -> None:
        """Make no canvas, even on screen, until `allow_canvas` (snapshots pushed meanwhile wait)."""
        self._deferred = True

    def allow_canvas(self) -> None:
        """A deferred canvas may be made now: at once if the panel is on screen, else once it is."""
        if not self._deferred:
            return
        self._deferred = False
        if self._placeholder is not None:
            self._placeholder.update()  # painted only where it is on screen, which makes the canvas

    def _placeholder_painted(self) -> None:
        """The placeholder was painted, so the panel is on screen: Qt keeps a dock tab behind
        another "visible" but moved out of the window, where nothing is painted."""
        if self.canvas is None and not self._creation_due and not self._deferred:
            self._creation_due = True  # not while painting: a new GL widget changes the layout
            QtCore.QTimer.singleShot(0, self, self._create_canvas_if_shown)

    def _create_canvas_if_shown(self) -> None:
        self._creation_due = False
        if self.canvas is None and self.isVisible() and not self.visibleRegion().isEmpty():
            self._create_canvas()

    def _create_canvas(self) -> None:
        canvas = ViewCanvas(self.views, size=self.views[0].render_size, app="pyside6", upload=self._upload)
        canvas.native.setParent(self)
        canvas.native.setMinimumSize(*MIN_CANVAS)
        self._layout.replaceWidget(self._placeholder, canvas.native)
        self._placeholder.deleteLater()
        self._placeholder = None
        canvas.native.show()
        self.canvas = canvas
        if self._device is not None:
            self._configure_upload()
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            canvas.push(waiting)
        self.canvas_created.emit(canvas)

    def push(self, snapshot: Snapshot) -> bool:
        """Update the views from `snapshot`; without a canvas, keep it for when one is made."""
        if self.canvas is None:
            self._waiting = snapshot
            return False
        return self.canvas.push(snapshot)

    def redraw(self) -> None:
        if self.canvas is not None:
            self.canvas.canvas.update()

    def set_device(self, device: str) -> UploadPath | None:
        """The training device is known: choose the upload path for it now, or once the canvas
        exists and has drawn (CUDA–GL needs its GL context). Returns the path chosen now, or
        None; `upload_changed` reports every choice."""
        self._device = str(device)
        if self.canvas is None:
            return None
        return self._configure_upload()

    def _configure_upload(self) -> UploadPath | None:
        canvas = self.canvas
        if canvas is None or self._configured_for == self._device:
            return canvas.upload if canvas is not None else None
        if canvas.frames == 0 and self._device.startswith("cuda"):
            if not self._awaiting_draw:
                self._awaiting_draw = True
                canvas.canvas.events.draw.connect(self._after_first_draw)
            return None
        upload = canvas.configure_upload(self._device)
        self._configured_for = self._device
        self.upload_changed.emit(upload)
        return upload

    def _after_first_draw(self, event: object = None) -> None:
        """The GL context exists now; choose outside the draw, where GL calls are safe."""
        self.canvas.canvas.events.draw.disconnect(self._after_first_draw)
        self._awaiting_draw = False
        QtCore.QTimer.singleShot(0, self, self._configure_upload)


class _CanvasPlaceholder(QtWidgets.QWidget):
    """Holds the canvas's place (and size hint, so docks lay out as they will with it) until
    it is first painted."""

    def __init__(self, size: tuple[int, int], painted: Callable[[], None], parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self._size = QtCore.QSize(*size)
        self._painted = painted

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt override
        return self._size

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt override
        self._painted()


def _labelled(text: str, widget: QtWidgets.QWidget, parent: QtWidgets.QWidget) -> QtWidgets.QWidget:
    """`widget` with its label to the left, kept together when the row wraps."""
    pair = QtWidgets.QWidget(parent)
    row = QtWidgets.QHBoxLayout(pair)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(4)
    row.addWidget(QtWidgets.QLabel(text, pair))
    row.addWidget(widget)
    return pair


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
