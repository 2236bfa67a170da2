"""Screenshots of one view or the dashboard, rendered offscreen at 1x, 2x or 4x."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
from PySide6 import QtGui, QtWidgets

from gpuviz_app.core.view_names import DASHBOARD
from gpuviz_app.export.frames import SCALES, compose, render_view, scaled_size
from gpuviz_app.ui.recorder import panel_layout, target_panels


def targets(visible: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, label) of what can be exported now: the dashboard and each of the `visible` panels."""
    items = [(DASHBOARD, "Dashboard (all visible views)")]
    for name, panel in visible.items():
        items.append((name, panel.views[0].title))
    return items


def screenshot_pixels(window: QtWidgets.QWidget, visible: Mapping[str, Any], target: str, scale: float = 1.0,
                      transparent: bool = False) -> np.ndarray:
    """RGBA pixels of `target` rendered at `scale` times its on-screen size (not upscaled).

    The dashboard is each of the `visible` panels rendered at that scale and placed where it
    sits in `window`.
    """
    panels = target_panels(visible, target)
    if not panels:
        raise ValueError(f"the {target} view is not visible")
    if target != DASHBOARD:
        return render_view(panels[0][1].canvas, scale=scale, transparent=transparent)
    size, rects = panel_layout(window, panels)
    parts = []
    for name, panel in panels:
        x, y, w, h = rects[name]
        pixels = render_view(panel.canvas, transparent=transparent, size=scaled_size((w, h), scale))
        parts.append((pixels, (int(round(x * scale)), int(round(y * scale)))))
    return compose(parts, scaled_size(size, scale), transparent=transparent)


def save_window_png(window: QtWidgets.QWidget, panels: Iterable[Any], snapshot: Any, path: str,
                    overwrite: bool = False) -> None:
    """`window` as it is on screen, the GL `panels` in it included, as a PNG (JPEG for .jpg/.jpeg)
    carrying the `snapshot`'s context (step, dataset, losses). An existing file is replaced only
    with `overwrite`."""
    from gpuviz_app.export.image import save_image, snapshot_metadata

    for panel in panels:
        panel.canvas.canvas.update()
    image = window.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGBA8888)
    w, h = image.width(), image.height()
    pixels = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    pixels = pixels.reshape(h, image.bytesPerLine())[:, : w * 4].reshape(h, w, 4)
    save_image(pixels, path, snapshot_metadata(snapshot), overwrite=overwrite)


def to_qimage(pixels: np.ndarray) -> QtGui.QImage:
    h, w = pixels.shape[:2]
    rgba = np.ascontiguousarray(pixels if pixels.shape[2] == 4 else np.dstack([pixels, np.full((h, w), 255, np.uint8)]))
    return QtGui.QImage(rgba.data, w, h, 4 * w, QtGui.QImage.Format.Format_RGBA8888).copy()


def target_combo(visible: Mapping[str, Any], parent: QtWidgets.QWidget) -> QtWidgets.QComboBox:
    """A choice of what to export: the dashboard or one visible view."""
    combo = QtWidgets.QComboBox(parent)
    for key, label in targets(visible):
        combo.addItem(label, key)
    return combo


class ScreenshotDialog(QtWidgets.QDialog):
    """What to export (target, scale, background), then Save… or Copy."""

    def __init__(self, window: Any, on_save, on_copy) -> None:
        """`window` is the main window: its `visible_panels()` are what can be exported."""
        super().__init__(window)
        self.setWindowTitle("Export screenshot")
        self.setObjectName("screenshot-dialog")
        form = QtWidgets.QFormLayout(self)
        self.target = target_combo(window.visible_panels(), self)
        form.addRow("View", self.target)
        self.scale = QtWidgets.QComboBox(self)
        for s in SCALES:
            self.scale.addItem(f"{s}x", s)
        self.scale.setToolTip("Rendered again at this resolution: sharper text and lines, same layout")
        form.addRow("Resolution", self.scale)
        self.transparent = QtWidgets.QCheckBox("Transparent background", self)
        form.addRow("", self.transparent)
        buttons = QtWidgets.QDialogButtonBox(self)
        self.save_button = buttons.addButton("Save PNG…", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.copy_button = buttons.addButton("Copy to clipboard", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.save_button.clicked.connect(lambda: on_save(*self.choice()) and self.accept())
        self.copy_button.clicked.connect(lambda: on_copy(*self.choice()))
        form.addRow(buttons)

    def choice(self) -> tuple[str, int, bool]:
        return self.target.currentData(), self.scale.currentData(), self.transparent.isChecked()
