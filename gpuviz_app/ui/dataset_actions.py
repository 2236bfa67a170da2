"""Opening datasets in the window: drops, File > Open, Open Recent, built-ins, and the first launch.

Every way in ends in `DatasetActions.open(spec)`: the load runs on its own thread with a
progress bar and Cancel in the status bar, the confirm dialog shows what was found, and
only when the user accepts does the session switch (`session.set_dataset`). A refusal is
one sentence; the run in progress is left as it was.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6 import QtCore, QtWidgets

from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats.registry import file_dialog_filter
from gpuviz_app.ui import settings as store
from gpuviz_app.ui.dataset_dialog import DatasetDialog
from gpuviz_app.ui.dataset_drop import DropTarget
from gpuviz_app.ui.dataset_loader import DatasetLoader
from gpuviz_app.ui.dataset_menus import build_menus

log = logging.getLogger(__name__)

RECENT_KEY = "data/recent"
LAST_KEY = "data/last"
IMAGE_SIDE_KEY = "data/image_max_side"
MAX_RECENT = 8

Spec = Any  # a path string, a list of path strings, or "builtin:NAME"
Confirm = Callable[[Dataset, Spec], None]
Failure = Callable[[str], None]


def spec_key(spec: Spec) -> Any:
    """A JSON-ready form of a spec, for settings."""
    return [str(p) for p in spec] if isinstance(spec, (list, tuple)) else str(spec)


def spec_title(spec: Spec) -> str:
    from gpuviz_app.data.open import spec_label

    return spec_label(spec)


class LoadProgress(QtWidgets.QWidget):
    """A label, a progress bar and a Cancel button, shown in the status bar while a load runs."""

    def __init__(self, parent: QtWidgets.QWidget, on_cancel: Callable[[], None]) -> None:
        super().__init__(parent)
        self.setObjectName("dataset-load-progress")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QtWidgets.QLabel(self)
        self.bar = QtWidgets.QProgressBar(self)
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(160)
        self.bar.setMaximumHeight(14)
        self.cancel = QtWidgets.QToolButton(self)
        self.cancel.setText("Cancel")
        self.cancel.clicked.connect(on_cancel)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel)
        self.updates = 0
        self.hide()

    def begin(self, title: str) -> None:
        name = Path(title).name or title
        self.label.setText(f"Loading {name}…")
        self.label.setToolTip(title)
        self.bar.setValue(0)
        self.updates = 0
        self.show()

    def advance(self, fraction: float, message: str) -> None:
        self.updates += 1
        self.bar.setValue(int(fraction * 1000))
        if message:
            self.bar.setToolTip(message)


class DatasetActions(QtCore.QObject):
    """Owns the loader, the dataset menus, the drop target, and the remembered datasets.

    `train_on(dataset)` switches training to a confirmed dataset; `configure(**changes)` changes
    the training configuration (the Data menu's augmentation); `model()` names the model in use.
    A `scripted` run neither reads nor saves the remembered datasets."""

    # from the training thread at start-up: a quiet note for the status bar, a spec to remember
    note = QtCore.Signal(str)
    remember_spec = QtCore.Signal(object)

    def __init__(self, window: QtWidgets.QMainWindow, *, scripted: bool, train_on: Callable[[Dataset], None],
                 configure: Callable[..., None], model: Callable[[], str]) -> None:
        super().__init__(window)
        self.window = window
        self.scripted = scripted
        self._train_on = train_on
        self._configure = configure
        self._model = model
        self.loader = DatasetLoader(self)
        self.loader.progress.connect(self._on_progress)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_failed)
        self.loader.cancelled.connect(self._on_cancelled)
        self.confirm: Confirm | None = None  # None: ask with DatasetDialog; tests may inject their own
        self.dialog: DatasetDialog | None = None
        self.message_box: QtWidgets.QMessageBox | None = None
        self.last_error = ""
        self.last_spec = None if self.scripted else store.load_json(LAST_KEY, {}).get("spec")
        self.image_max_side = store.load_json(IMAGE_SIDE_KEY, 64)
        self.progress = LoadProgress(window, self.loader.cancel)
        window.statusBar().insertPermanentWidget(0, self.progress)
        self.note.connect(self._show_note)  # a bound slot: queued into the GUI thread
        self.remember_spec.connect(self.remember)

    def _show_note(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 15000)

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if obj is self.window and event.type() == QtCore.QEvent.Type.Close:
            self.loader.shutdown()
            if self.dialog is not None:
                self.dialog.reject()
        return False

    # -- opening -------------------------------------------------------------------------------------
    def options(self):
        from gpuviz_app.data.formats.context import LoadOptions

        side = self.image_max_side if isinstance(self.image_max_side, int) and self.image_max_side > 0 else 64
        return LoadOptions(image_max_side=side)

    def open(self, spec: Spec) -> None:
        """Start loading `spec` (cancelling a load in progress); training goes on meanwhile."""
        if self.dialog is not None:
            self.dialog.reject()
        self.last_error = ""
        self.progress.begin(spec_title(spec))
        self.loader.start(spec, self.options())

    def open_files(self) -> None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self.window, "Open dataset", self._start_dir(),
                                                          file_dialog_filter())
        if paths:
            self.open(paths if len(paths) > 1 else paths[0])

    def open_folder(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self.window, "Open dataset folder", self._start_dir())
        if path:
            self.open(path)

    def _start_dir(self) -> str:
        recent = self.recent()
        first = recent[0] if recent else None
        first = first[0] if isinstance(first, list) else first
        return str(Path(first).parent) if first else str(Path.home())

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.advance(fraction, message)

    def _on_loaded(self, data: Dataset, spec: Spec) -> None:
        self.progress.hide()
        if self.confirm is not None:
            self.confirm(data, spec)
            return
        dialog = DatasetDialog(data, self.window, model=self._model())
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply(data, spec))
        dialog.finished.connect(lambda _r, d=dialog: self._dialog_closed(d))
        self.dialog = dialog
        dialog.open()

    def _dialog_closed(self, dialog: DatasetDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def apply(self, data: Dataset, spec: Spec) -> None:
        """Switch training to `data` (the user confirmed)."""
        self._train_on(data)
        self.remember(spec)
        self.window.statusBar().showMessage(f"Training on {data.name}: {len(data):,} samples, "
                                       f"{len(data.classes)} classes", 8000)

    def _on_failed(self, path: str, reason: str, spec: Spec) -> None:
        self.progress.hide()
        self.last_error = f"{path}: {reason}"
        self.window.statusBar().showMessage(f"Could not open {self.last_error}; training goes on unchanged.",
                                            15000)
        if self.message_box is not None:
            self.message_box.close()
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "gpuviz",
                                    f"Could not open {path}: {reason}.", QtWidgets.QMessageBox.StandardButton.Ok,
                                    self.window)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: setattr(self, "message_box", None) if self.message_box is b else None)
        self.message_box = box
        box.open()

    def _on_cancelled(self, spec: Spec) -> None:
        self.progress.hide()
        self.window.statusBar().showMessage("Loading cancelled; training goes on unchanged.", 5000)

    # -- remembering -------------------------------------------------------------------------------------
    def recent(self) -> list:
        entries = store.load_json(RECENT_KEY, [])
        return [e for e in entries if isinstance(e, str) or (isinstance(e, list) and all(isinstance(p, str) for p in e))]

    def remember(self, spec: Spec) -> None:
        if self.scripted or spec is None:
            return
        key = spec_key(spec)
        store.save_json(LAST_KEY, {"spec": key})
        if isinstance(key, str) and key.startswith("builtin:"):
            return
        entries = [key] + [e for e in self.recent() if e != key]
        store.save_json(RECENT_KEY, entries[:MAX_RECENT])

    def clear_recent(self) -> None:
        store.save_json(RECENT_KEY, [])

    # -- the first dataset (runs on the training thread) ------------------------------------------------
    def load_initial(self, path: Spec | None, on_failure: Failure) -> Dataset:
        """`gpuviz PATH` loads PATH (a failure falls back to the default, and `on_failure` gets
        "path: reason" to show); otherwise the dataset of the last session, quietly falling back
        to the default. Runs on the training thread: it reaches the window only through signals."""
        from gpuviz_app.data.open import load_dataset

        if path:
            try:
                data = load_dataset(path, options=self.options())
            except DatasetError as exc:
                on_failure(f"{exc.path}: {exc.reason}")
                return load_dataset(None)
            if isinstance(path, (list, tuple)):
                self.remember_spec.emit([str(Path(p).absolute()) for p in path])
            else:
                self.remember_spec.emit(str(Path(path).absolute()))
            return data
        if self.last_spec:
            try:
                return load_dataset(self.last_spec, options=self.options())
            except DatasetError as exc:
                self.note.emit(f"Could not reopen {exc.path} ({exc.reason}); training the digits instead.")
        return load_dataset(None)

    # -- options ------------------------------------------------------------------------------------------
    def set_image_max_side(self, side: int) -> None:
        self.image_max_side = side
        store.save_json(IMAGE_SIDE_KEY, side)

    def set_augment(self, mode: str) -> None:
        self._configure(augment=mode)


def install(window: QtWidgets.QMainWindow, file_menu: QtWidgets.QMenu, *, scripted: bool,
            train_on: Callable[[Dataset], None], configure: Callable[..., None], model: Callable[[], str],
            augment: str) -> DatasetActions:
    """Add the dataset menus (to `file_menu` and a Data menu) and the drop target to `window`;
    returns the controller. See `DatasetActions` for the callables."""
    actions = DatasetActions(window, scripted=scripted, train_on=train_on, configure=configure, model=model)
    build_menus(window, file_menu, actions, augment)
    actions.drop = DropTarget(window, actions)
    window.installEventFilter(actions)  # closing the window stops a load in progress
    return actions
