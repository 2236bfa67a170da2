"""The window's export commands: screenshot, video recording, metrics CSV.

`install_export(window)` adds them to the File menu and an Export toolbar and returns the
`ExportActions` that owns them. Files are chosen in a save dialog, which asks before
replacing an existing file; writing is atomic (see `export.atomic`). A screenshot or a
recording that shows the loss surface starts once the surface is centred on the weights
shown (`SurfaceWait`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from gpuviz_app.core.view_names import DASHBOARD
from gpuviz_app.ui.frame_loop import FrameLoop
from gpuviz_app.ui.recorder import WindowRecorder
from gpuviz_app.ui.screenshot import ScreenshotDialog, screenshot_pixels, target_combo, targets, to_qimage
from gpuviz_app.ui.surface_wait import LANDSCAPE, SurfaceWait

log = logging.getLogger(__name__)

RECORD_TIP = "Record a view or the dashboard to MP4, WebM or GIF; again to stop (Ctrl+Shift+R)"
VIDEO_FILTERS = {"MP4 video, H.264 (*.mp4)": "mp4", "WebM video, VP9 (*.webm)": "webm",
                 "GIF animation (*.gif)": "gif"}


def ask_save_path(parent: QtWidgets.QWidget, title: str, name: str, filters: dict[str, str]) -> str | None:
    """A save dialog that asks before replacing a file; the filter's suffix is added if missing."""
    dialog = QtWidgets.QFileDialog(parent, title, str(Path.home() / name))
    dialog.setAcceptMode(QtWidgets.QFileDialog.AcceptMode.AcceptSave)
    dialog.setNameFilters(list(filters))
    dialog.setDefaultSuffix(next(iter(filters.values())))
    dialog.filterSelected.connect(lambda f: dialog.setDefaultSuffix(filters.get(f, "")))
    if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted or not dialog.selectedFiles():
        return None
    return dialog.selectedFiles()[0]


@dataclass
class RecordSettings:
    target: str
    fps: float = 30.0
    every_steps: int | None = None


class RecordDialog(QtWidgets.QDialog):
    """What to record and how: real time at F fps, or a time-lapse frame every k steps."""

    def __init__(self, window, target: str = DASHBOARD) -> None:
        """`window` is the main window: its `visible_panels()` are what can be recorded."""
        super().__init__(window)
        self.setWindowTitle("Record video")
        self.setObjectName("record-dialog")
        form = QtWidgets.QFormLayout(self)
        self.target = target_combo(window.visible_panels(), self)
        self.target.setCurrentIndex(max(0, self.target.findData(target)))
        form.addRow("View", self.target)
        self.fps = QtWidgets.QSpinBox(self)
        self.fps.setRange(1, 60)
        self.fps.setValue(30)
        self.fps.setSuffix(" fps")
        form.addRow("Frame rate", self.fps)
        self.timelapse = QtWidgets.QCheckBox("Time-lapse: one frame every", self)
        self.every = QtWidgets.QSpinBox(self)
        self.every.setRange(1, 10_000_000)
        self.every.setValue(100)
        self.every.setSuffix(" steps")
        self.every.setEnabled(False)
        self.timelapse.toggled.connect(self.every.setEnabled)
        form.addRow(self.timelapse, self.every)
        buttons = QtWidgets.QDialogButtonBox(self)
        buttons.addButton("Record…", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> RecordSettings:
        every = self.every.value() if self.timelapse.isChecked() else None
        return RecordSettings(self.target.currentData(), float(self.fps.value()), every)

    @classmethod
    def ask(cls, window, target: str = DASHBOARD) -> RecordSettings | None:
        dialog = cls(window, target)
        return dialog.settings() if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted else None


def _icon(widget: QtWidgets.QWidget, kind: str) -> QtGui.QIcon:
    """A small drawn icon: a red dot (record), a square (stop), or the system's camera-like icon."""
    if kind == "camera":
        return widget.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_DesktopIcon)
    pixmap = QtGui.QPixmap(16, 16)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(pixmap)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.setBrush(QtGui.QColor("#d83a3a" if kind == "record" else "#5e6673"))
    if kind == "record":
        painter.drawEllipse(2, 2, 12, 12)
    else:
        painter.drawRect(3, 3, 10, 10)
    painter.end()
    return QtGui.QIcon(pixmap)


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


class ExportActions(QtCore.QObject):
    """Screenshots, recordings and CSV of `window` (the main window: its `visible_panels()`), of
    the snapshot `frames` shows. `exported(path)` follows each file written by a screenshot
    and the start of each recording."""

    exported = QtCore.Signal(object)

    def __init__(self, window, frames: FrameLoop) -> None:
        super().__init__(window)
        self.window = window
        self.frames = frames
        self.recorder = WindowRecorder(window, frames, window.visible_panels)
        self.surface = SurfaceWait(window, frames)
        W = QtCore.Qt.ShortcutContext.WindowShortcut

        self.screenshot = QtGui.QAction(_icon(window, "camera"), "Export &screenshot…", window)
        self.screenshot.setIconText("Screenshot")
        self.screenshot.setShortcut(QtGui.QKeySequence("Ctrl+Shift+S"))
        self.screenshot.setToolTip("Save or copy a picture of a view or the dashboard (Ctrl+Shift+S)")
        self.screenshot.triggered.connect(self.show_screenshot_dialog)
        self.record = QtGui.QAction(_icon(window, "record"), "&Record video…", window)
        self.record.setIconText("Record")
        self.record.setShortcut(QtGui.QKeySequence("Ctrl+Shift+R"))
        self.record.setToolTip(RECORD_TIP)
        self.record.triggered.connect(self.toggle_recording)
        self.csv = QtGui.QAction("Export metrics &CSV…", window)
        self.csv.setToolTip("Save the loss and accuracy history as CSV")
        self.csv.triggered.connect(self.export_csv)
        for action in (self.screenshot, self.record, self.csv):
            action.setShortcutContext(W)

        self.record_menu = QtWidgets.QMenu("Record", window)
        self.record_menu.aboutToShow.connect(self._fill_record_menu)
        self.toolbar = QtWidgets.QToolBar("Export", window)
        self.toolbar.setObjectName("export-toolbar")
        self.toolbar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.addAction(self.screenshot)
        self.record_button = QtWidgets.QToolButton(self.toolbar)
        self.record_button.setDefaultAction(self.record)
        self.record_button.setMenu(self.record_menu)
        self.record_button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.record_button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.addWidget(self.record_button)
        self.status = QtWidgets.QLabel(window)
        self.status.setObjectName("record-status")
        self.status.setToolTip("Recording: elapsed time, frames, capture rate")
        self.recorder.status_changed.connect(self._show_status)
        self.recorder.active_changed.connect(self._recording_changed)

    def install(self, menu: QtWidgets.QMenu) -> None:
        """Add the commands to the File `menu` (before Quit), the toolbar and the status bar."""
        window = self.window
        quit_action = next((a for a in menu.actions() if a.shortcut() == QtGui.QKeySequence(
            QtGui.QKeySequence.StandardKey.Quit)), None)
        for action in (self.screenshot, self.record, self.csv):
            if quit_action is not None:
                menu.insertAction(quit_action, action)
            else:
                menu.addAction(action)
        if quit_action is not None:
            menu.insertSeparator(quit_action)
        window.addToolBar(self.toolbar)
        window.statusBar().insertPermanentWidget(0, self.status)
        window.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.window and event.type() == QtCore.QEvent.Type.Close:
            self.surface.cancel()
            self.finish_recording()  # closing the window keeps what was recorded
        return False

    # -- screenshots ---------------------------------------------------------------------
    def show_screenshot_dialog(self) -> None:
        ScreenshotDialog(self.window, self.save_screenshot_as, self.copy_screenshot_when_ready).exec()

    def when_surface_ready(self, what: str, export, target: str = DASHBOARD) -> bool:
        """Run `export` once a loss surface in `target` is centred on the weights shown (at once
        when the target does not show one); see `SurfaceWait`."""
        return self.surface.then(what, export, includes_surface=target in (DASHBOARD, LANDSCAPE))

    def save_screenshot_as(self, target: str, scale: float, transparent: bool) -> bool:
        """Ask where, then save once the surface is ready. False when the user chose nothing."""
        path = ask_save_path(self.window, "Export screenshot", f"gpuviz-{target}-{_stamp()}.png",
                             {"PNG image (*.png)": "png"})
        if not path:
            return False
        save = lambda: self._report(lambda: self.save_screenshot(path, target, scale, transparent,  # noqa: E731
                                                                   overwrite=True))
        self.when_surface_ready(Path(path).name, save, target)
        return True

    def copy_screenshot_when_ready(self, target: str = DASHBOARD, scale: float = 1.0,
                                   transparent: bool = False) -> None:
        copy = lambda: self._report(lambda: self.copy_screenshot(target, scale, transparent))  # noqa: E731
        self.when_surface_ready("the clipboard", copy, target)

    def shown_snapshot(self):
        """The snapshot the panels show (the newest taken before anything was drawn)."""
        return self.frames.drawn if self.frames.drawn is not None else self.frames.snapshot

    def save_screenshot(self, path: str, target: str = DASHBOARD, scale: float = 1.0,
                        transparent: bool = False, overwrite: bool = False) -> Path:
        from gpuviz_app.export.image import save_png, snapshot_metadata

        pixels = screenshot_pixels(self.window, self.window.visible_panels(), target, scale, transparent)
        meta = snapshot_metadata(self.shown_snapshot())
        meta["gpuviz:view"] = target
        meta["gpuviz:scale"] = f"{scale:g}"
        save_png(pixels, path, meta, overwrite=overwrite)
        self.window.statusBar().showMessage(f"Saved {path}", 5000)
        self.exported.emit(Path(path))
        return Path(path)

    def copy_screenshot(self, target: str = DASHBOARD, scale: float = 1.0, transparent: bool = False) -> None:
        image = to_qimage(screenshot_pixels(self.window, self.window.visible_panels(), target, scale, transparent))
        QtGui.QGuiApplication.clipboard().setImage(image)
        self.window.statusBar().showMessage(f"Copied a {image.width()}x{image.height()} picture", 5000)

    # -- video ---------------------------------------------------------------------------
    def _fill_record_menu(self) -> None:
        self.record_menu.clear()
        for key, label in targets(self.window.visible_panels()):
            action = self.record_menu.addAction(label.split(" (")[0])
            action.setEnabled(not self.recorder.active)
            action.triggered.connect(lambda _c=False, key=key: self.ask_and_record(key))

    def toggle_recording(self) -> None:
        if self.recorder.active:
            self.finish_recording()
        else:
            self.ask_and_record(DASHBOARD)

    def ask_and_record(self, target: str) -> None:
        settings = RecordDialog.ask(self.window, target)
        if settings is None:
            return
        path = ask_save_path(self.window, "Record video", f"gpuviz-{settings.target}-{_stamp()}.mp4",
                             VIDEO_FILTERS)
        if path:
            start = lambda: self._report(lambda: self.start_recording(path, settings, overwrite=True))  # noqa: E731
            self.when_surface_ready(Path(path).name, start, settings.target)

    def start_recording(self, path: str, settings: RecordSettings, overwrite: bool = False) -> None:
        self.recorder.start(settings.target, path, fps=settings.fps, every_steps=settings.every_steps,
                            overwrite=overwrite)
        self.exported.emit(Path(path))

    def _recording_changed(self, active: bool) -> None:
        if active:
            self.record.setText("Stop &recording")
            self.record.setIconText("Stop")
            self.record.setIcon(_icon(self.window, "stop"))
            self.record.setToolTip("Stop and save the video (Ctrl+Shift+R)")
        else:
            self.record.setText("&Record video…")
            self.record.setIconText("Record")
            self.record.setIcon(_icon(self.window, "record"))
            self.record.setToolTip(RECORD_TIP)

    def finish_recording(self) -> Path | None:
        if not self.recorder.active:
            return None
        result: list[Path | None] = [None]

        def stop() -> None:
            result[0] = self.recorder.stop()
            self.window.statusBar().showMessage(f"Saved {result[0]}", 8000)

        self._report(stop)
        return result[0]

    def _show_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #d08770;" if "behind" in text or "failed" in text else "")

    # -- CSV -----------------------------------------------------------------------------
    def export_csv(self) -> None:
        if self.frames.snapshot is None:
            self.window.statusBar().showMessage("No metrics yet", 5000)
            return
        path = ask_save_path(self.window, "Export metrics CSV", f"gpuviz-metrics-{_stamp()}.csv",
                             {"CSV table (*.csv)": "csv"})
        if path:
            self._report(lambda: self.save_csv(path, overwrite=True))

    def save_csv(self, path: str, overwrite: bool = False) -> Path:
        from gpuviz_app.export.metrics_csv import write_metrics_csv

        written = write_metrics_csv(self.frames.snapshot.metrics, path, overwrite=overwrite)
        self.window.statusBar().showMessage(f"Saved {path}", 5000)
        return written

    def _report(self, action) -> bool:
        """Run `action`; a failure is shown in one sentence, never as a traceback."""
        try:
            action()
            return True
        except Exception as exc:  # noqa: BLE001 - shown to the user, the window stays up
            log.warning("export failed: %s", exc)
            QtWidgets.QMessageBox.warning(self.window, "gpuviz", str(exc))
            return False


def install_export(window, file_menu: QtWidgets.QMenu, frames: FrameLoop) -> ExportActions:
    """Export commands for `window` (see `ExportActions`), in `file_menu` and a toolbar."""
    actions = ExportActions(window, frames)
    actions.install(file_menu)
    return actions
