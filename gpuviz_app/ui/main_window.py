"""The main window: the training toolbar, one panel per View, the status bar, and the frame loop."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from PySide6 import QtCore, QtGui, QtWidgets

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.probes import probe_factories
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.data.dataset import Dataset
from gpuviz_app.render.upload import HostUpload
from gpuviz_app.render.views import VIEW_CLASSES, make_view
from gpuviz_app.ui import dataset_actions
from gpuviz_app.ui import settings as store
from gpuviz_app.ui import timing
from gpuviz_app.ui.controls import TrainingControls
from gpuviz_app.ui.display_rate import install_display_rate
from gpuviz_app.ui.help_actions import install_help_actions
from gpuviz_app.ui.export_actions import install_export
from gpuviz_app.ui.lifetime import make_timer
from gpuviz_app.ui.pacing import FramePacer
from gpuviz_app.ui.panels import ViewPanel
from gpuviz_app.ui.status import StatusLine
from gpuviz_app.ui.worker import TrainingThread

log = logging.getLogger(__name__)

FRAME_MS = 16  # the display polls the mailbox at up to ~60 Hz
STATUS_S = 1.0  # between drawn frames the status bar still follows the newest snapshot (each repaint
# recomposites the GL window, which costs a software renderer ~10 ms)
MAX_FRAME_GAP_S = 2.0  # a frame at least this often, whatever the budget (idle repaints may exceed it)
PROBE_LEAD_S = 0.1  # the display asks for probe payloads this long before it may draw
IDLE_POLL_MS = 250  # while the display budget refills, the mailbox is polled this often at least
DOCK_SHARE = 0.45  # of the window's width, for the docked views when no layout was saved


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        self.args = args
        self.setWindowTitle("gpuviz")
        self.setObjectName("gpuviz-main")
        self.resize(1280, 800)
        self.upload = HostUpload("host staging")
        self.config = self._initial_config()
        self.session: TrainingSession | None = None
        self.thread: TrainingThread | None = None
        self.snapshot: Snapshot | None = None  # the newest taken from the mailbox
        self.drawn: Snapshot | None = None  # the newest pushed to the canvases
        self.load_error = ""
        self.exit_code = 0
        self._finishing = False

        self.panels: dict[str, ViewPanel] = {}
        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        self._dock_shown: dict[str, bool] = {}  # a tab behind another is not shown (Qt keeps it 'visible')
        self._status_time = 0.0
        self._build_panels()
        self.controls = TrainingControls(self, self._set_paused, self._step_once, self._reset, self._configure)
        self.controls.set_config(self.config)
        self.addToolBar(self.controls)
        self.status = StatusLine(self.statusBar())
        self.status.set("upload", self.upload.name, self.upload.reason)
        self._build_menus()
        self.datasets = dataset_actions.install(self)
        self.exporter = install_export(self)
        self._restore_state()

        self._frame_timer = make_timer(self, FRAME_MS, self._on_frame)
        self._frame_timer.setObjectName("gpuviz-frame")
        self._start_timer = make_timer(self, 0, self.start_training, single_shot=True)
        self._start_timer.setObjectName("gpuviz-start")
        self._finish_timer = make_timer(self, 50, self._finish, single_shot=True)
        self._fps_frames, self._fps_time, self.fps = 0, time.perf_counter(), 0.0
        self.pacer = FramePacer()
        self._drawn_time = 0.0
        self.display_rate = install_display_rate(self)
        self.panels["metrics"].canvas.canvas.events.draw.connect(self._first_paints)

    # -- construction -------------------------------------------------------------------
    def _initial_config(self) -> TrainConfig:
        """Command-line values win; otherwise, in an interactive session, the last one's settings."""
        from gpuviz_app.cli import config_from_args

        scripted = bool(self.args.quit_when_done)
        base = TrainConfig() if scripted else TrainConfig.from_dict(store.load_json("training/config", {}))
        return config_from_args(self.args, base)

    def _build_panels(self) -> None:
        metrics = make_view("metrics")
        central = ViewPanel([metrics], self.upload, self, on_options=self._options_changed)
        self.setCentralWidget(central)
        self.panels["metrics"] = central
        self.setDockNestingEnabled(True)
        previous = None
        for name, cls in VIEW_CLASSES.items():
            if name == "metrics":
                continue
            panel = ViewPanel([make_view(name)], self.upload, self, on_options=self._options_changed)
            dock = QtWidgets.QDockWidget(cls.title, self)
            dock.setObjectName(f"dock-{name}")
            dock.setWidget(panel)
            self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
            if previous is not None:
                self.tabifyDockWidget(previous, dock)
            previous = dock
            self.panels[name] = panel
            self.docks[name] = dock
            dock.visibilityChanged.connect(lambda shown, name=name: self._dock_visibility(name, shown))
        if self.docks:
            next(iter(self.docks.values())).raise_()  # the first view's tab in front

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file = menu.addMenu("&File")
        quit_action = file.addAction("&Quit")
        quit_action.setShortcut(QtGui.QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.file_menu = file
        train = menu.addMenu("&Training")
        for action in (self.controls.play, self.controls.step, self.controls.reset):
            train.addAction(action)
        view = menu.addMenu("&View")
        for name, dock in self.docks.items():
            view.addAction(dock.toggleViewAction())
        self.view_menu = view
        self.help_menu = menu.addMenu("&Help")
        self.help_actions = install_help_actions(self)

    def _first_paints(self, event=None) -> None:
        timing.mark("window_shown")
        if self.drawn is not None and self.drawn.step > 0:
            timing.mark("first_training_frame")
            self.panels["metrics"].canvas.canvas.events.draw.disconnect(self._first_paints)

    # -- training ---------------------------------------------------------------------------
    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        if self.session is None and not self._start_timer.isActive():
            self._start_timer.start()  # after the first paint: torch loads while the window is up

    def start_training(self) -> None:
        if self.session is not None:
            return
        self.session = TrainingSession(
            self._load_initial_dataset,
            config=self.config,
            device=self.args.device,
            max_steps=self.args.steps,
            probes=probe_factories({p.views[0].probe for p in self.panels.values() if p.views[0].probe}),
            active=self._shown_probes(),
        )
        for panel in self.panels.values():
            for view in panel.views:
                self._send_probe_options(view)
        self.session.pace_probes()
        self.thread = TrainingThread(self.session, self)
        self.thread.start()
        self.pacer.restart()
        self._frame_timer.start()

    def _load_initial_dataset(self) -> Dataset:
        """Runs on the worker thread. A bad PATH falls back to the default, with the reason shown."""
        return self.datasets.load_initial()

    def visible_panels(self) -> list[ViewPanel]:
        """The panels of the views on screen (see `shown_views`), in view order."""
        shown = self.shown_views()
        return [p for name, p in self.panels.items() if name in shown and p.isVisible()]

    def _dock_visibility(self, name: str, shown: bool) -> None:
        self._dock_shown[name] = shown
        self._active_probes_changed()

    def shown_views(self) -> set[str]:
        """Views on screen: the central one and each dock not hidden or behind another tab."""
        docks = {n for n, d in self.docks.items() if d.isVisible() and self._dock_shown.get(n, True)}
        return docks | {"metrics"}

    def _shown_probes(self) -> set[str]:
        return {self.panels[n].views[0].probe for n in self.shown_views() if self.panels[n].views[0].probe}

    def _active_probes_changed(self) -> None:
        if self.session is not None:
            self.session.set_active_probes(self._shown_probes())
            self.session.want_probes()  # a view just shown gets its first payload at once

    def _on_frame(self) -> None:
        session = self.session
        if session is None:
            return
        if self.load_error:
            self._report_load_error()
        snap = session.mailbox.take()
        if snap is not None:
            previous = self.snapshot
            if previous is None or previous.device != snap.device:
                self._choose_upload(snap.device)
            self.snapshot = snap
            timing.sample(snap.step, snap.wall_time)
            if previous is None or (previous.paused, previous.run_id) != (snap.paused, snap.run_id):
                self._status_time = 0.0  # a change of state is shown at once
        if self.snapshot is self.drawn:
            return
        ready = self.pacer.ready()
        gap = time.perf_counter() - self._drawn_time
        if ready or min(self.pacer.wait_s(), MAX_FRAME_GAP_S - gap) <= PROBE_LEAD_S:
            session.want_probes()  # payloads are computed for the frames that will be drawn
        overdue = gap >= MAX_FRAME_GAP_S
        if not ready and not overdue and not self._draw_at_once():  # sleep until the budget allows
            if time.perf_counter() - self._status_time >= STATUS_S:
                self._show_status(self.snapshot)  # counters stay live even when frames are rare
            wait_s = self.pacer.wait_s()
            if wait_s > PROBE_LEAD_S:
                wait_s -= PROBE_LEAD_S  # wake to ask for payloads, then again to draw them
            self._frame_timer.setInterval(max(FRAME_MS, min(IDLE_POLL_MS, int(wait_s * 1000))))
            return
        self._frame_timer.setInterval(FRAME_MS)
        snap = self.drawn = self.snapshot
        self._drawn_time = time.perf_counter()
        for panel in self.visible_panels():
            panel.canvas.push(snap)
        self._count_fps()
        self._show_status(snap)
        if snap.finished and self.args.quit_when_done and not self._finishing:
            self._finishing = True
            self._finish_timer.start()  # after the last frame has been painted

    def _draw_at_once(self) -> bool:
        """A run's first steps, and training stopping or resuming, are drawn whatever the budget
        holds: start-up's first paints, or idle costs above a small budget, would hold them back
        (and `--quit-when-done` waits for the last frame)."""
        drawn, snap = self.drawn, self.snapshot
        if drawn is None or drawn.step == 0 or drawn.run_id != snap.run_id:
            return True
        return (drawn.finished, drawn.paused) != (snap.finished, snap.paused)

    def _show_status(self, snap: Snapshot) -> None:
        self._status_time = time.perf_counter()
        self.status.show_snapshot(snap, self.fps)
        self.controls.set_paused(snap.paused)

    def _choose_upload(self, device: str) -> None:
        """Once the device is known: CUDA–GL where it works, else host staging (with why)."""
        for panel in self.panels.values():
            upload = panel.canvas.configure_upload(device)
        self.upload = upload
        self.status.set("upload", upload.name, upload.reason)
        log.info("views upload via %s: %s", upload.name, upload.reason)

    def _count_fps(self) -> None:
        now = time.perf_counter()
        if now - self._fps_time >= 1.0:
            frames = max((p.canvas.frames for p in self.panels.values()), default=0)
            self.fps = (frames - self._fps_frames) / (now - self._fps_time)
            self._fps_frames, self._fps_time = frames, now

    def _report_load_error(self) -> None:
        message, self.load_error = self.load_error, ""
        if self.args.quit_when_done:
            print(f"error: {message}", file=sys.stderr)
            self.exit_code = 2
            self.close()
            return
        self.statusBar().showMessage(f"Could not open {message}; training the default dataset instead.", 15000)
        QtWidgets.QMessageBox.warning(self, "gpuviz", f"Could not open {message}.\n\nTraining the default "
                                      "dataset instead.")

    def _finish(self) -> None:
        if self.args.screenshot:
            try:
                self.save_window_png(self.args.screenshot)
            except OSError as exc:
                print(f"error: {self.args.screenshot}: {exc}", file=sys.stderr)
                self.exit_code = 2
        self.close()

    def save_window_png(self, path: str) -> None:
        """The whole window, GL panels included, as a PNG with the run's context in it."""
        import numpy as np

        from gpuviz_app.export.image import save_png, snapshot_metadata

        for panel in self.visible_panels():
            panel.canvas.canvas.update()
        image = self.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGBA8888)
        w, h = image.width(), image.height()
        pixels = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
        pixels = pixels.reshape(h, image.bytesPerLine())[:, : w * 4].reshape(h, w, 4)
        save_png(pixels, path, snapshot_metadata(self.snapshot), overwrite=True)

    # -- controls ----------------------------------------------------------------------------
    def _set_paused(self, paused: bool) -> None:
        if self.session:
            self.session.set_paused(paused)

    def _step_once(self) -> None:
        if self.session:
            self.controls.set_paused(True)
            self.session.step_once(1)

    def _reset(self) -> None:
        if self.session:
            self.session.reset()

    def _configure(self, **changes) -> None:
        self.config = self.config.with_changes(**changes)
        store.save_json("training/config", self.config.to_dict())
        if self.session:
            self.session.configure(**changes)

    def _send_probe_options(self, view) -> None:
        """Views whose probe takes options (the landscape's grid, the embedding's layer) hand them
        to the session."""
        options = view.probe_options()
        if self.session is not None and view.probe and options is not None:
            self.session.configure_probe(view.probe, options)

    def _options_changed(self, view) -> None:
        store.save_json(f"views/{view.name}", view.options())
        self._send_probe_options(view)
        if self.snapshot is not None:
            self.panels[view.name].canvas.push(self.snapshot)

    # -- state -------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geometry = store.load_bytes("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = store.load_bytes("window/state")
        if state is None or not self.restoreState(state):
            self._share_width(list(self.docks.values()))
        if getattr(self.args, "views", None):
            self.show_views_side_by_side(self.args.views)
        for name, panel in self.panels.items():
            for view in panel.views:
                view.set_options(store.load_json(f"views/{view.name}", {}))
            panel.sync_option_widgets()

    def show_views_side_by_side(self, names) -> None:
        """Open the docks of `names` one above the other (no tabs), close the rest."""
        shown = [self.docks[n] for n in self.docks if n in names]
        right = QtCore.Qt.DockWidgetArea.RightDockWidgetArea
        for dock in self.docks.values():
            self.removeDockWidget(dock)
        for i, dock in enumerate(shown):
            if i == 0:
                self.addDockWidget(right, dock)
            else:
                self.splitDockWidget(shown[i - 1], dock, QtCore.Qt.Orientation.Vertical)
            dock.show()
        for name, dock in self.docks.items():
            if name not in names:
                self.addDockWidget(right, dock)
                dock.hide()
        self._share_width(shown)

    def _share_width(self, docks: list[QtWidgets.QDockWidget]) -> None:
        """Give the right dock column DOCK_SHARE of the window, the rest to the central view."""
        if docks:
            self.resizeDocks(docks[:1], [int(self.width() * DOCK_SHARE)], QtCore.Qt.Orientation.Horizontal)

    def _save_state(self) -> None:
        store.save_bytes("window/geometry", self.saveGeometry())
        store.save_bytes("window/state", self.saveState())
        for panel in self.panels.values():
            for view in panel.views:
                store.save_json(f"views/{view.name}", view.options())
        store.settings().sync()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self._frame_timer.stop()
        self._start_timer.stop()
        self._finish_timer.stop()
        if not self.args.quit_when_done:
            self._save_state()
        if self.thread is not None and not self.thread.shutdown():
            log.warning("the training thread did not stop in time")
        timing.write()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop everything this window started (used when closing and by tests)."""
        self._frame_timer.stop()
        self._start_timer.stop()
        self._finish_timer.stop()
        if self.thread is not None:
            self.thread.shutdown()
