"""Running a user's training script in the window: File > Run Script…, a dropped `.py` file, and
`gpuviz run SCRIPT.py` with a display.

A file's code runs only after the user confirmed a dialog that names it (Cancel is the default
button); naming the script on the command line is that confirmation. The script runs as a
`ScriptSource` on the window's training thread in place of the built-in training (the window's
`run_source`), so the views switch to its run as they do for a new dataset, and Pause, Step and
Stop act at its `viz.step`. When it ends the views keep its last frame; a script that raised
shows its traceback in a dialog and the window stays up. Opening a dataset afterwards goes back
to the built-in training.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from PySide6 import QtCore, QtGui, QtWidgets

SCRIPT_FILTER = "Python scripts (*.py)"
RUN_SHORTCUT = "Ctrl+Shift+E"
STOP_SHORTCUT = "Shift+F5"


def confirm_message(path: str | Path) -> tuple[str, str]:
    """The confirmation's text and informative text for running `path`."""
    script = Path(path).absolute()
    return (f"Run the training script {script.name}?",
            f"{script}\n\nIts Python code will run inside gpuviz with your permissions, as "
            f"`python {script.name}` would: it can read, change or delete your files. "
            "Run only scripts you trust.")


class ScriptActions(QtCore.QObject):
    """Owns Run Script… and Stop Script, the confirmation and failure dialogs, and the status
    messages of a script's run.

    `run_source(source, on_ended)` hands a source to the window's training thread;
    `probe_names()` lists the probes the window's views read; with `quit_when_done` the window
    closes when the script ends, with exit status 1 if it raised or never attached. `ended(source)` is emitted
    once a script's thread has ended and the window said so."""

    ended = QtCore.Signal(object)

    def __init__(self, window: QtWidgets.QMainWindow, controls: Any, *,
                 run_source: Callable[[Any, Callable[[], None] | None], None],
                 probe_names: Callable[[], set[str]], quit_when_done: bool) -> None:
        super().__init__(window)
        self.window = window
        self.controls = controls
        self._run_source = run_source
        self._probe_names = probe_names
        self.quit_when_done = quit_when_done
        self.current: Any = None  # the ScriptSource shown, running or ended
        self.running = False
        self.confirm_box: QtWidgets.QMessageBox | None = None
        self.message_box: QtWidgets.QMessageBox | None = None
        self._start_dir = str(Path.cwd())

        self.run_action = QtGui.QAction("Run &Script…", window)
        self.run_action.setShortcut(QtGui.QKeySequence(RUN_SHORTCUT))
        self.run_action.setToolTip(f"Run your own training script (which calls gpuviz_app.attach) in place of "
                                   f"the built-in training ({RUN_SHORTCUT})")
        self.run_action.triggered.connect(self.choose_script)
        self.stop_action = QtGui.QAction(
            window.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaStop), "Stop Script", window)
        self.stop_action.setShortcut(QtGui.QKeySequence(STOP_SHORTCUT))
        self.stop_action.setToolTip(f"Stop the script at its next viz.step ({STOP_SHORTCUT})")
        self.stop_action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        self.stop_action.triggered.connect(self.stop)
        self.stop_action.setEnabled(False)
        self.stop_action.setVisible(False)

    # -- asking ---------------------------------------------------------------------------------
    def choose_script(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Run training script", self._start_dir,
                                                        SCRIPT_FILTER)
        if path:
            self.ask_to_run(path)

    def ask_to_run(self, path: str) -> None:
        """Ask whether to run `path` (a dialog, not waited for); only Run Script runs it."""
        from gpuviz_app.export.run_script import script_problem

        problem = script_problem(path)
        if problem:
            self._tell(QtWidgets.QMessageBox.Icon.Warning, f"Cannot run {problem}.")
            return
        if self.confirm_box is not None:
            self.confirm_box.close()
        text, details = confirm_message(path)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "gpuviz", text,
                                    QtWidgets.QMessageBox.StandardButton.NoButton, self.window)
        box.setObjectName("confirm-run-script")
        box.setInformativeText(details)
        run_button = box.addButton("Run Script", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: self._answered(b, b.clickedButton() is run_button, path))
        self.confirm_box = box
        box.open()

    def _answered(self, box: QtWidgets.QMessageBox, run: bool, path: str) -> None:
        if self.confirm_box is box:
            self.confirm_box = None
        if run:
            self._start_dir = str(Path(path).absolute().parent)
            self.run(path)

    # -- running --------------------------------------------------------------------------------
    def run(self, path: str, args: Sequence[str] = (), max_steps: int | None = None) -> None:
        """Run `path` with `args` now, in place of whatever runs (the user asked for it);
        `max_steps` stops it at its N-th `viz.step` (`gpuviz run --steps`)."""
        from gpuviz_app.core.probes import probe_factories
        from gpuviz_app.sources.script import ScriptSource

        source = ScriptSource(path, list(args), probes=probe_factories(self._probe_names()),
                              max_steps=max_steps)
        self.current = source
        self.running = True
        self._show_running(True)
        self.window.statusBar().showMessage(f"Running {source.script.name}…")
        self._run_source(source, lambda: self._thread_ended(source))

    def stop(self) -> None:
        """Stop the script at its next `viz.step` (its `finally` blocks run)."""
        if self.current is not None and self.running:
            self.current.stop()
            self.window.statusBar().showMessage(f"Stopping {self.current.script.name} at its next step…")

    def source_changed(self, source: Any) -> None:
        """The window follows `source` now: the built-in training's controls apply again unless
        it is the script."""
        shown = source is self.current and self.current is not None
        for widget in self._training_settings():
            widget.setEnabled(not shown)
        tip = "A script's run cannot be reset; open a dataset to go back to the built-in training"
        self.controls.reset.setToolTip(tip if shown else "Start again from fresh weights (Ctrl+R)")

    def _training_settings(self) -> list[Any]:
        c = self.controls
        return [c.reset, c.lr, c.batch, c.optimizer, c.model, c.seed]

    def _show_running(self, running: bool) -> None:
        self.stop_action.setEnabled(running)
        self.stop_action.setVisible(running)

    def _thread_ended(self, source: Any) -> None:
        name = source.script.name
        if source is self.current:
            self.running = False
            self._show_running(False)
        shown = source is self.current
        step = source.current.step_count if source.current is not None else 0
        if self.quit_when_done and shown:
            self._quit(source)
        elif source.failure is not None:
            self.window.statusBar().showMessage(f"{name} failed at step {step:,}: {source.failure.summary}")
            self._tell(QtWidgets.QMessageBox.Icon.Critical, f"{name} failed at step {step:,}.",
                       informative=source.failure.summary, details=source.failure.details)
        elif not source.attached and shown:
            self.window.statusBar().showMessage(f"{name} finished without calling gpuviz_app.attach")
            self._tell(QtWidgets.QMessageBox.Icon.Warning,
                       f"{name} finished without calling gpuviz_app.attach: there was nothing to show.")
        elif shown:
            how = "stopped" if source.stopped else "finished"
            self.window.statusBar().showMessage(f"{name} {how} at step {step:,}; the views show its last frame")
        self.ended.emit(source)

    def _quit(self, source: Any) -> None:
        """`--quit-when-done`: the outcome on stderr, like headless `gpuviz run`, then close."""
        code = 0
        if source.failure is not None:
            print(f"error: {source.failure.summary}", file=sys.stderr)
            print(source.failure.details.rstrip(), file=sys.stderr)
            code = 1
        elif not source.attached:
            print(f"error: {source.script} finished without calling gpuviz_app.attach: nothing to show",
                  file=sys.stderr)
            code = 1
        else:
            print(f"ran {source.script} for {source.current.step_count} steps", file=sys.stderr)
        self.window.exit_code = code
        self.window.close()

    def _tell(self, icon: QtWidgets.QMessageBox.Icon, text: str, informative: str = "", details: str = "") -> None:
        """A dialog that does not wait (kept in `message_box` until closed)."""
        if self.message_box is not None:
            self.message_box.close()
        box = QtWidgets.QMessageBox(icon, "gpuviz", text, QtWidgets.QMessageBox.StandardButton.Ok, self.window)
        box.setObjectName("script-message")
        if informative:
            box.setInformativeText(informative)
        if details:
            box.setDetailedText(details)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: setattr(self, "message_box", None) if self.message_box is b else None)
        self.message_box = box
        box.open()


def install(window: QtWidgets.QMainWindow, file_menu: QtWidgets.QMenu, training_menu: QtWidgets.QMenu,
            controls: QtWidgets.QToolBar, *, run_source: Callable[..., None], probe_names: Callable[[], set[str]],
            quit_when_done: bool) -> ScriptActions:
    """Add Run Script… to `file_menu` (after the dataset entries) and Stop Script to
    `training_menu` and the `controls` toolbar (shown while a script runs); returns the controller."""
    actions = ScriptActions(window, controls, run_source=run_source, probe_names=probe_names,
                            quit_when_done=quit_when_done)
    entries = file_menu.actions()
    separator = next((a for a in entries if a.isSeparator()), None)
    file_menu.insertAction(separator, actions.run_action) if separator else file_menu.addAction(actions.run_action)
    training_menu.addAction(actions.stop_action)
    after_reset = controls.actions()[controls.actions().index(controls.reset) + 1]
    controls.insertAction(after_reset, actions.stop_action)
    window.source_changed.connect(actions.source_changed)
    return actions
