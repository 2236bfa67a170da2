"""The main window: the training toolbar, one panel per View, the status bar; the frame loop
(`FrameLoop`) decides when the panels draw and tells the window through signals."""

from __future__ import annotations

import logging
import sys
from typing import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.probes import probe_factories
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.data.dataset import Dataset
from gpuviz_app.export.atomic import OutputExists
from gpuviz_app.render.upload import HostUpload, UploadPath
from gpuviz_app.render.views import VIEW_CLASSES, make_view
from gpuviz_app.render.views.base import View
from gpuviz_app.sources.base import RunSource
from gpuviz_app.ui import attached_runs
from gpuviz_app.ui import dataset_actions, script_actions
from gpuviz_app.ui import settings as store
from gpuviz_app.ui import run_recording, runs_dialog, timeline_actions, timing
from gpuviz_app.ui import window_state
from gpuviz_app.ui.controls import TrainingControls
from gpuviz_app.ui.diagnostics import Diagnostics, collect
from gpuviz_app.ui.display_rate import install_display_rate
from gpuviz_app.ui.export_actions import install_export
from gpuviz_app.ui.first_frame import FirstFrames, keep_first_frame
from gpuviz_app.ui.frame_loop import FrameLoop
from gpuviz_app.ui.help_actions import install_help_actions
from gpuviz_app.ui.launch_options import LaunchOptions
from gpuviz_app.ui.lifetime import make_timer
from gpuviz_app.ui.pacing import FramePacer
from gpuviz_app.ui.panels import ViewPanel
from gpuviz_app.ui.screenshot import save_window_png
from gpuviz_app.ui.status import StatusLine
from gpuviz_app.ui.worker import TrainingThread

log = logging.getLogger(__name__)

CONFIG_KEY = "training/config"


class MainWindow(QtWidgets.QMainWindow):
    """`options` says what the command line asked; `pacer` replaces the display budget (tests).

    `source` is the run shown and commanded: the built-in `session`, or a user's script; one
    training thread runs it at a time (`run_source`). `source_changed(source)` says when the
    views follow another one."""

    source_changed = QtCore.Signal(object)

    def __init__(self, options: LaunchOptions, pacer: FramePacer | None = None) -> None:
        super().__init__()
        self.options = options
        self.setWindowTitle("gpuviz")
        self.setObjectName("gpuviz-main")
        self.resize(1280, 800)
        self.upload: UploadPath = HostUpload("host staging")
        self.config = self._initial_config()
        self.session: TrainingSession | None = None  # the built-in training (the last one made)
        self.source: RunSource | None = None
        self.thread: TrainingThread | None = None
        self._next_source: tuple[RunSource, Callable[[], None] | None] | None = None
        self.exit_code = 0
        self._finishing = False

        self.frames = FrameLoop(self._draw, pacer, self)
        self.panels: dict[str, ViewPanel] = {}
        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        self._dock_shown: dict[str, bool] = {}  # a tab behind another is not shown (Qt keeps it 'visible')
        self._docks_wait = False  # until the first trained frame (see `_shown_probes`)
        self._build_panels()
        self.controls = TrainingControls(self, self._set_paused, self._step_once, self._reset, self.configure)
        self.controls.set_config(self.config)
        self.addToolBar(self.controls)
        self.status = StatusLine(self.statusBar())
        self.status.set("upload", self.upload.name, self.upload.reason)
        self._build_menus()
        self.datasets = dataset_actions.install(
            self, self.file_menu, scripted=options.scripted, train_on=self.train_on, configure=self.configure,
            model=lambda: self.config.model, augment=self.config.augment)
        self.scripts = script_actions.install(
            self, self.file_menu, self.train_menu, self.controls, run_source=self.run_source,
            probe_names=self._probe_names, quit_when_done=options.quit_when_done)
        self.datasets.drop.on_script = self.scripts.ask_to_run
        self.exporter = install_export(self, self.file_menu, self.frames)
        self.display_rate = install_display_rate(self.view_menu, self.frames.pacer)
        self.run_opener = timeline_actions.install(self)  # the timeline under the views; `gpuviz open`
        self.timeline = self.run_opener.timeline
        self.recording = run_recording.install(self)  # every run shown is kept in the runs directory
        runs_dialog.install(self)  # File > Runs…
        window_state.restore_layout(self, self.docks)
        if options.views:
            window_state.show_side_by_side(self, self.docks, options.views)
        window_state.restore_view_options(self.panels.values())

        self._start_timer = make_timer(self, 0, self.start_training, single_shot=True)
        self._start_timer.setObjectName("gpuviz-start")
        self._finish_timer = make_timer(self, 50, self._finish, single_shot=True)
        self._connect_frames()
        self.attached_runs = attached_runs.install(self, options.listen, self.run_source, self.first_frames.done,
                                                   self._shown_probes)

    # -- construction -------------------------------------------------------------------
    def _initial_config(self) -> TrainConfig:
        """Command-line values win; otherwise, in an interactive session, the last one's settings."""
        saved = TrainConfig() if self.options.scripted else TrainConfig.from_dict(store.load_json(CONFIG_KEY, {}))
        return saved.with_changes(**self.options.train_changes)

    def _build_panels(self) -> None:
        self.setCentralWidget(self._panel("metrics"))
        self.panels["metrics"].create_canvas_now()  # always on screen; the docks wait until shown
        keep_first_frame(self.panels["metrics"])
        self.setDockNestingEnabled(True)
        previous = None
        for name, cls in VIEW_CLASSES.items():
            if name == "metrics":
                continue
            dock = QtWidgets.QDockWidget(cls.title, self)
            dock.setObjectName(f"dock-{name}")
            dock.setWidget(self._panel(name))
            self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
            if previous is not None:
                self.tabifyDockWidget(previous, dock)
            previous = dock
            self.docks[name] = dock
            dock.visibilityChanged.connect(lambda shown, name=name: self._dock_visibility(name, shown))
        if self.docks:
            next(iter(self.docks.values())).raise_()  # the first view's tab in front

    def _panel(self, name: str) -> ViewPanel:
        panel = ViewPanel([make_view(name)], self.upload, self, on_options=self._options_changed,
                          on_action=self._probe_action)
        panel.upload_changed.connect(self._upload_chosen)
        self.panels[name] = panel
        return panel

    def _build_menus(self) -> None:
        menu = self.menuBar()
        self.file_menu = menu.addMenu("&File")
        quit_action = self.file_menu.addAction("&Quit")
        quit_action.setShortcut(QtGui.QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.train_menu = train = menu.addMenu("&Training")
        for action in (self.controls.play, self.controls.step, self.controls.reset):
            train.addAction(action)
        self.view_menu = menu.addMenu("&View")
        for dock in self.docks.values():
            self.view_menu.addAction(dock.toggleViewAction())
        self.help_menu = menu.addMenu("&Help")
        self.help_actions = install_help_actions(self, self.help_menu, self.diagnostics)

    def _connect_frames(self) -> None:
        frames = self.frames
        frames.snapshot_taken.connect(lambda snap: timing.sample(snap.step, snap.wall_time))
        frames.device_changed.connect(self._choose_upload)
        frames.status_due.connect(self._show_status)
        frames.finished.connect(self._on_finished)
        frames.load_failed.connect(self._report_load_error)
        # The docks make their canvases once the first trained frame is on screen (a screenshot
        # at the end of a short run must find them made).
        self.first_frames = FirstFrames(frames, self.panels["metrics"], self)
        self._docks_wait = bool(self.docks) and not self.options.screenshot
        for name in self.docks if self._docks_wait else ():
            self.panels[name].defer_canvas()
            self.first_frames.done.connect(self.panels[name].allow_canvas)
        self.first_frames.done.connect(self._docks_ready)

    def _docks_ready(self) -> None:
        """The first trained frame is on screen: the docks' probes start (their canvases are being made)."""
        self._docks_wait = False
        self._dock_visibility_changed()

    # -- what the frame loop shows -------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot | None:
        """The newest snapshot taken from the run (see `FrameLoop.snapshot`)."""
        return self.frames.snapshot

    @property
    def drawn(self) -> Snapshot | None:
        """The newest snapshot the panels were given (see `FrameLoop.drawn`)."""
        return self.frames.drawn

    def _draw(self, snap: Snapshot) -> None:
        for panel in self._on_screen().values():
            panel.push(snap)  # a canvas still to be made shows it once it is

    def _show_status(self, snap: Snapshot) -> None:
        self.status.show_snapshot(snap, self.frames.fps)
        self.controls.set_paused(snap.paused)

    def _choose_upload(self, device: str) -> None:
        """Once the device is known, each panel chooses: CUDA–GL where it works, else host
        staging (with why), now or once its canvas exists (`_upload_chosen` hears it)."""
        for panel in self.panels.values():
            panel.set_device(device)

    def _upload_chosen(self, upload: UploadPath) -> None:
        self.upload = upload
        self.status.set("upload", upload.name, upload.reason)
        log.info("views upload via %s: %s", upload.name, upload.reason)

    # -- training ---------------------------------------------------------------------------
    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        if self.source is None and self._next_source is None and not self._start_timer.isActive():
            self._start_timer.start()  # after the first paint: torch loads while the window is up

    def start_training(self) -> None:
        """The first run: the command line's script (`gpuviz run`), else the built-in training."""
        if self.source is not None or self._next_source is not None:
            return
        if self.options.script:
            self.scripts.run(self.options.script, self.options.script_args, max_steps=self.options.steps)
            return
        if self.options.run:
            self.run_opener.open(self.options.run)
            return
        self._train_builtin(self._load_initial_dataset)

    def _probe_names(self) -> set[str]:
        return {view.probe for panel in self.panels.values() for view in panel.views if view.probe}

    def _train_builtin(self, dataset: Callable[[], Dataset]) -> None:
        self.session = TrainingSession(
            dataset,
            config=self.config,
            device=self.options.device,
            max_steps=None if self.options.script else self.options.steps,
            probes=probe_factories(self._probe_names()),
            active=self._shown_probes(),
            pause_on_divergence=not self.options.scripted,  # a scripted run must reach its end
            rest_when_shown=True,  # `_docks_ready` says which are shown once the first trained frame is painted
        )
        self.run_source(self.session)

    def run_source(self, source: RunSource, on_ended: Callable[[], None] | None = None) -> None:
        """Run `source` on the training thread in place of the current one, which is told to stop
        first; once its thread has ended, the views follow `source` (as a new run: see
        `FrameLoop.start`) and `on_ended` hears when `source`'s thread ends."""
        waiting = self._next_source is not None
        self._next_source = (source, on_ended)
        if self.thread is not None and self.thread.isRunning():
            if not waiting:
                self.thread.session.stop()  # its `finished` starts the next source (`_thread_ended`)
            return
        self._start_next_source()

    @QtCore.Slot()
    def _thread_ended(self) -> None:
        # Connected when the thread is made, never after a stop: a source that ends at once on
        # `stop` (an attached run) would otherwise emit `finished` before anyone listened.
        if self.sender() is self.thread:
            self._start_next_source()

    def _start_next_source(self) -> None:
        if self._next_source is None:
            return
        source, on_ended = self._next_source
        self._next_source = None
        self.source = source
        source.set_active_probes(self._shown_probes())
        for panel in self.panels.values():
            for view in panel.views:
                self._send_probe_options(view)
        self.frames.start(source)  # probes paced to the frames from the first step on
        self.thread = TrainingThread(source, self)
        self.thread.finished.connect(self._thread_ended)  # queued: it runs in this (the GUI) thread
        if on_ended is not None:
            self.thread.finished.connect(on_ended)
        self.source_changed.emit(source)
        self.thread.start()

    def _load_initial_dataset(self) -> Dataset:
        """Runs on the worker thread. A bad PATH falls back to the default, with the reason shown."""
        return self.datasets.load_initial(self.options.path, self.frames.report_load_failure)

    def train_on(self, data: Dataset) -> None:
        """Switch training to `data` (starting the built-in training if a script's run is shown
        or nothing has started yet)."""
        if self.session is None or self.source is not self.session:
            self._train_builtin(lambda: data)
            return
        self.session.set_dataset(data)

    def _on_screen(self) -> dict[str, ViewPanel]:
        shown = self.shown_views()
        return {name: p for name, p in self.panels.items() if name in shown and p.isVisible()}

    def visible_panels(self) -> dict[str, ViewPanel]:
        """The panels of the views on screen (see `shown_views`) whose canvas exists: what
        screenshots and recordings can show. By name, in view order."""
        return {name: p for name, p in self._on_screen().items() if p.has_canvas}

    def _dock_visibility(self, name: str, shown: bool) -> None:
        self._dock_shown[name] = shown
        self._dock_visibility_changed()

    def _dock_visibility_changed(self) -> None:
        if self.source is not None:
            self.source.set_active_probes(self._shown_probes())
            self.frames.want_probes()  # a view just shown gets its first payload at once

    def shown_views(self) -> set[str]:
        """Views on screen: the central one and each dock not hidden or behind another tab."""
        docks = {n for n, d in self.docks.items() if d.isVisible() and self._dock_shown.get(n, True)}
        return docks | {"metrics"}

    def _shown_probes(self) -> set[str]:
        """The probes of the views on screen; until the first trained frame only the central
        view's (the docks make their canvases after it: their payloads would wait, and the
        probes' work, from step 0 on, would hold the first frame back)."""
        names = {"metrics"} if self._docks_wait else self.shown_views()
        return {view.probe for name in names for view in self.panels[name].views if view.probe}

    def _report_load_error(self, message: str) -> None:
        if self.options.quit_when_done:
            print(f"error: {message}", file=sys.stderr)
            self.exit_code = 2
            self.close()
            return
        self.statusBar().showMessage(f"Could not open {message}; training the default dataset instead.", 15000)
        QtWidgets.QMessageBox.warning(self, "gpuviz", f"Could not open {message}.\n\nTraining the default "
                                      "dataset instead.")

    def _on_finished(self) -> None:
        if self.options.quit_when_done and not self.options.script and not self._finishing:
            self._finishing = True
            self._finish_timer.start()  # after the last frame has been painted

    def _finish(self) -> None:
        if self.options.screenshot:  # once a loss surface on screen shows the last weights
            self.exporter.when_surface_ready(self.options.screenshot, self._save_screenshot_and_close)
        else:
            self.close()

    def _save_screenshot_and_close(self) -> None:
        path = self.options.screenshot
        if path:
            try:
                self.save_window_png(path, overwrite=self.options.force)
            except OutputExists as exc:  # appeared during the run
                print(f"error: {exc.path}: already exists (use --force to overwrite)", file=sys.stderr)
                self.exit_code = 2
            except (OSError, ValueError) as exc:  # each names the user's file
                print(f"error: {exc}", file=sys.stderr)
                self.exit_code = 2
        if self.exporter.surface.note:
            print(f"note: {self.exporter.surface.note}", file=sys.stderr)
        self.close()

    def save_window_png(self, path: str, overwrite: bool = False) -> None:
        """The whole window, GL panels included, as a PNG (JPEG for .jpg) with the run's context in it."""
        save_window_png(self, self.visible_panels().values(), self.exporter.shown_snapshot(), path, overwrite)

    def diagnostics(self) -> Diagnostics:
        """What a bug report needs about this window's run (Help > About, Copy diagnostics)."""
        metrics = self.panels["metrics"]
        canvas = metrics.canvas.canvas if metrics.has_canvas else None
        return collect(self.frames.snapshot, self.options.device, self.upload, canvas)

    # -- controls: each sends the run shown one command -------------------------------------
    def _set_paused(self, paused: bool) -> None:
        if self.source:
            self.source.set_paused(paused)

    def _step_once(self) -> None:
        if self.source:
            self.controls.set_paused(True)
            self.source.step_once(1)

    def _reset(self) -> None:
        if self.source:
            self.source.reset()

    def configure(self, **changes) -> None:
        """Change the training configuration (remembered for the next session)."""
        self.config = self.config.with_changes(**changes)
        store.save_json(CONFIG_KEY, self.config.to_dict())
        if self.session:
            self.session.configure(**changes)  # a script's run shown meanwhile: kept for the built-in one

    def _send_probe_options(self, view: View) -> None:
        """Views whose probe takes options (the landscape's grid, the embedding's layer) hand them
        to the session."""
        options = view.probe_options()
        if self.source is not None and view.probe and options is not None:
            self.source.configure_probe(view.probe, options)

    def _options_changed(self, view: View) -> None:
        window_state.save_view_options(view)
        self._send_probe_options(view)
        if self.frames.snapshot is not None:
            self.panels[view.name].push(self.frames.snapshot)

    def _probe_action(self, view: View, action: str) -> None:
        """A view's action button (the landscape's Re-centre) for its probe."""
        if self.source is not None and view.probe:
            self.source.probe_action(view.probe, action)

    # -- closing -------------------------------------------------------------------------------
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self._next_source = None
        self._stop_timers()
        if not self.options.scripted:
            window_state.save_layout(self, self.panels.values())
        if self.thread is not None and not self.thread.shutdown():
            log.warning("the training thread did not stop in time")
        self.recording.close()  # (after the source's last snapshot)
        timing.write()
        super().closeEvent(event)

    def _stop_timers(self) -> None:
        self.frames.stop()
        self.timeline.shutdown()
        self._start_timer.stop()
        self._finish_timer.stop()

    def shutdown(self) -> None:
        """Stop everything this window started (used when closing and by tests)."""
        self._stop_timers()
        if self.thread is not None:
            self.thread.shutdown()
        self.recording.close()
