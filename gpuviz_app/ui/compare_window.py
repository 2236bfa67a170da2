"""Two or more stored runs in lockstep: one timeline, every run at the same step.

The runs are read as one `CompareFrames` by a `ReplaySource` on a thread of the window's own, so
the timeline (the main window's, unchanged: slider, keys, play/pause, speeds) moves through every
step any run recorded, and each run shows its payloads recorded at or before that step. The
metrics view overlays every run's curves (a colour per run); each run has a column with its
weights and embedding views; a heatmap shows one layer's weight matrix of run B minus run A.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence, Union

from PySide6 import QtCore, QtGui, QtWidgets

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.difference import DifferenceView, matrix_layers
from gpuviz_app.render.upload import HostUpload
from gpuviz_app.render.views import make_view
from gpuviz_app.sources.stored import ReplaySource
from gpuviz_app.store.compare import CompareFrames, ComparedRuns, compared_runs
from gpuviz_app.store.open import open_frames
from gpuviz_app.ui.frame_loop import FrameLoop
from gpuviz_app.ui.pacing import FramePacer
from gpuviz_app.ui.panels import ViewPanel
from gpuviz_app.ui.timeline import Timeline
from gpuviz_app.ui.worker import TrainingThread

RUN_VIEWS = ("weights", "embedding")  # shown once per run, side by side (unless `--views` names others)
DEFAULT_VIEWS = ("metrics", *RUN_VIEWS)  # the metrics overlay every run; the weights add the difference heatmap


class RunColumn(QtWidgets.QWidget):
    """One run's views, under its name."""

    def __init__(self, index: int, parent: QtWidgets.QWidget, views: Sequence[str] = RUN_VIEWS) -> None:
        super().__init__(parent)
        self.index = index
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QtWidgets.QLabel(f"run {index + 1}", self)
        self.title.setObjectName(f"compare-run-{index}")
        layout.addWidget(self.title)
        self.views = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, self)
        self.panels: dict[str, ViewPanel] = {}
        for name in views:
            panel = ViewPanel([make_view(name)], HostUpload("host staging"), self.views, probes=False)
            self.views.addWidget(panel)
            self.panels[name] = panel
        layout.addWidget(self.views, 1)
        self.empty = QtWidgets.QLabel(self)  # in the views' place while the run has recorded nothing
        self.empty.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.hide()
        layout.addWidget(self.empty, 1)
        self.shown: Snapshot | None = None  # the run's snapshot its views were given last (None: nothing yet)

    def show_run(self, name: str, snapshot: Snapshot, recorded: bool) -> None:
        """The run at the step shown; one that had recorded nothing by then shows no views (they
        would keep a later step's picture)."""
        if self.title.text() != name:
            self.title.setText(name)
        self.views.setVisible(recorded)
        self.empty.setVisible(not recorded)
        if not recorded:
            self.shown = None
            self.empty.setText(f"{name} had recorded nothing by step {snapshot.step:,}")
            return
        self.shown = snapshot
        for panel in self.panels.values():
            panel.push(snapshot)


class DifferencePanel(QtWidgets.QWidget):
    """The heatmap of B minus A, with the layer and the two runs to choose."""

    def __init__(self, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.view = DifferenceView()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(6, 2, 6, 2)
        self.layer_box = QtWidgets.QComboBox(self)
        self.layer_box.setToolTip("The layer whose weight matrices are compared")
        self.b_box, self.a_box = QtWidgets.QComboBox(self), QtWidgets.QComboBox(self)
        for text, widget in (("Layer", self.layer_box), ("Difference", self.b_box), ("\u2212", self.a_box)):
            row.addWidget(QtWidgets.QLabel(text, self))
            row.addWidget(widget)
        row.addStretch(1)
        layout.addLayout(row)
        self.panel = ViewPanel([self.view], HostUpload("host staging"), self, probes=False)
        layout.addWidget(self.panel, 1)
        self._layers: list[tuple[int, str]] = []
        self._names: tuple[str, ...] = ()
        self._snapshot: Snapshot | None = None
        for box in (self.layer_box, self.a_box, self.b_box):
            box.currentIndexChanged.connect(self._chosen)

    def show_step(self, snapshot: Snapshot, compared: ComparedRuns) -> None:
        self._snapshot = snapshot
        self._offer(compared)
        self.panel.push(snapshot)

    def _offer(self, compared: ComparedRuns) -> None:
        """Keep the choosers' items in step with the runs and their layers (the choice kept)."""
        layers = matrix_layers(compared)
        if layers != self._layers:
            self._layers = layers
            _refill(self.layer_box, [(label, index) for index, label in layers], self.view.layer)
        if compared.names != self._names:
            self._names = compared.names
            runs = [(name, i) for i, name in enumerate(compared.names)]
            a, b = self.view.pair
            _refill(self.a_box, runs, a)
            _refill(self.b_box, runs, b)
        self._apply()

    def _apply(self) -> None:
        layer = self.layer_box.currentData()
        a, b = self.a_box.currentData(), self.b_box.currentData()
        self.view.choose(layer, 0 if a is None else a, 1 if b is None else b)

    def _chosen(self) -> None:
        self._apply()
        if self._snapshot is not None:
            self.panel.push(self._snapshot)


def _refill(box: QtWidgets.QComboBox, items: list[tuple[str, object]], keep: object) -> None:
    box.blockSignals(True)
    box.clear()
    for text, data in items:
        box.addItem(text, data)
    box.setCurrentIndex(max(0, box.findData(keep)))
    box.blockSignals(False)


Runs = Union[CompareFrames, Callable[[], CompareFrames]]


class CompareWindow(QtWidgets.QMainWindow):
    """`runs`: the runs compared, or a callable opening them (on the window's thread). `count`: how
    many (a column each). `views`: the views shown (default `DEFAULT_VIEWS`): the metrics once for
    every run, the others once per run, the weights also as the difference heatmap. A `parent`
    window closing closes this one."""

    def __init__(self, runs: Runs, count: int, title: str = "", parent: QtWidgets.QWidget | None = None,
                 pacer: FramePacer | None = None, views: Sequence[str] | None = None) -> None:
        super().__init__(parent, QtCore.Qt.WindowType.Window)
        self.setObjectName("gpuviz-compare")
        self.setWindowTitle(f"Compare: {title}" if title else "Compare runs")
        self.resize(1400, 900)
        self.exit_code = 0
        self._closed = False
        self.frames = FrameLoop(self._draw, pacer, self)
        self.source = ReplaySource(runs, title=title)
        self.view_names = tuple(views) if views else DEFAULT_VIEWS
        self.metrics = (ViewPanel([make_view("metrics")], HostUpload("host staging"), self, probes=False)
                        if "metrics" in self.view_names else None)
        self.difference = DifferencePanel(self) if "weights" in self.view_names else None
        per_run = [name for name in self.view_names if name != "metrics"]
        self.columns = [RunColumn(i, self, per_run) for i in range(count)] if per_run else []
        self._build()
        self.timeline = Timeline(self.frames, parent=self)
        self.addToolBar(QtCore.Qt.ToolBarArea.BottomToolBarArea, self.timeline)
        close = QtGui.QAction("Close", self)
        close.setShortcut(QtGui.QKeySequence.StandardKey.Close)
        close.triggered.connect(self.close)
        self.addAction(close)
        self.thread = TrainingThread(self.source, self)
        self.thread.setObjectName("gpuviz-compare")
        self.frames.start(self.source)
        self.timeline.follow_source(self.source)
        self.thread.start()
        if parent is not None:
            parent.installEventFilter(self)

    @classmethod
    def for_paths(cls, paths: Sequence[str], parent: QtWidgets.QWidget | None = None,
                  pacer: FramePacer | None = None, views: Sequence[str] | None = None) -> "CompareWindow":
        """The runs or TensorBoard logs at `paths`, opened on the window's thread."""
        paths = list(paths)
        names = [os.path.basename(os.path.normpath(p)) for p in paths]
        return cls(lambda: open_all(paths), len(paths), " \u00b7 ".join(names), parent, pacer, views)

    def _build(self) -> None:
        main = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, self)
        shared = [w for w in (self.metrics, self.difference) if w is not None]
        if shared:
            top = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal, self)
            for widget, stretch in zip(shared, (3, 2)):
                top.addWidget(widget)
                top.setStretchFactor(top.count() - 1, stretch)
            main.addWidget(top)
        if self.columns:
            runs = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal, self)
            for column in self.columns:
                runs.addWidget(column)
            main.addWidget(runs)
            main.setStretchFactor(main.count() - 1, 2)
        self.setCentralWidget(main)

    def panels(self) -> list[ViewPanel]:
        """Every view panel of the window."""
        shared = [self.metrics] if self.metrics is not None else []
        shared += [self.difference.panel] if self.difference is not None else []
        return shared + [p for c in self.columns for p in c.panels.values()]

    @property
    def shown(self) -> ComparedRuns | None:
        """The runs at the step drawn last."""
        return compared_runs(self.frames.drawn) if self.frames.drawn is not None else None

    def _draw(self, snapshot: Snapshot) -> None:
        compared = compared_runs(snapshot)
        if compared is None:  # the runs could not be opened: the timeline says why
            if snapshot.error:
                self.statusBar().showMessage(f"Could not open the runs: {snapshot.error}")
            return
        if self.metrics is not None:
            self.metrics.push(snapshot)
        if self.difference is not None:
            self.difference.show_step(snapshot, compared)
        for column, name, shown, recorded in zip(self.columns, compared.names, compared.snapshots,
                                                compared.recorded):
            column.show_run(name, shown, recorded)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.parent() and event.type() == QtCore.QEvent.Type.Close:
            self.close()
        return False

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the timeline's playback, the frame loop and the thread reading the runs, and close them."""
        if self._closed:
            return
        self._closed = True
        self.timeline.shutdown()
        self.frames.stop()
        if self.thread.shutdown(10_000) and self.source.frames is not None:
            close = getattr(self.source.frames, "close", None)
            if callable(close):
                close()


def open_all(paths: Sequence[str]) -> CompareFrames:
    """The runs at `paths` as one `CompareFrames`; the first that cannot be opened says why
    (`OpenError`), and those already opened are closed."""
    opened = []
    try:
        for path in paths:
            opened.append(open_frames(path))
    except Exception:
        for run in opened:
            close = getattr(run, "close", None)
            if callable(close):
                close()
        raise
    return CompareFrames(opened)


def open_compare(paths: Sequence[str], parent: QtWidgets.QWidget | None = None) -> CompareWindow:
    """A compare window for `paths`, shown."""
    window = CompareWindow.for_paths(paths, parent)
    window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    window.show()
    return window
