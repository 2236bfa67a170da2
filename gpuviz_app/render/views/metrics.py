"""Loss and accuracy against step, live, decimated to one min/max pair per pixel column."""

from __future__ import annotations

import numpy as np
from vispy import scene

from gpuviz_app.core.history import Decimated
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.plot import Plot
from gpuviz_app.render.upload import UploadPath
from gpuviz_app.render.views.base import Option, View

COLORS = {"train_loss": "#88c0d0", "eval_loss": "#ebcb8b", "eval_acc": "#a3be8c"}


def envelope(d: Decimated) -> np.ndarray:
    """Vertices tracing each column's min then max, so the strip covers every extreme."""
    xy = np.empty((2 * len(d), 2), np.float32)
    xy[0::2, 0] = d.x
    xy[1::2, 0] = d.x
    xy[0::2, 1] = d.ymin
    xy[1::2, 1] = d.ymax
    return xy


class MetricsView(View):
    name = "metrics"
    title = "Metrics"
    render_size = (900, 560)
    OPTIONS = (Option("log_loss", False),)

    def attach(self, parent: scene.Widget) -> None:
        super().attach(parent)
        grid = parent.add_grid(spacing=4, margin=2, bgcolor=None)
        self.loss = Plot(grid.add_widget(row=0, col=0), "Loss (cross-entropy)")
        self.loss.add_series("train_loss", "train", COLORS["train_loss"])
        self.loss.add_series("eval_loss", "eval", COLORS["eval_loss"])
        self.acc = Plot(grid.add_widget(row=1, col=0), "Accuracy")
        self.acc.add_series("eval_acc", "eval", COLORS["eval_acc"])
        self._last: tuple | None = None
        self.options_changed()

    def options_changed(self) -> None:
        if self.parent is not None and self.loss.log != self._options["log_loss"]:
            self.loss.set_log(self._options["log_loss"])
            self._last = None

    def update(self, snapshot: Snapshot, upload: UploadPath) -> bool:
        if self.new_run(snapshot):
            self._last = None
            self.loss._resume_follow()
            self.acc._resume_follow()
        history = snapshot.metrics
        span = history.step_range()
        if span is None:
            return False
        key = (snapshot.run_id, history.total("train_loss"), history.total("eval_loss"),
               self.loss.columns(), self.loss.log)
        if key == self._last:
            return False
        self._last = key
        lo, hi = 0, max(span[1], 1)
        self._draw(self.loss, history, ("train_loss", "eval_loss"), lo, hi, upload)
        self._draw(self.acc, history, ("eval_acc",), lo, hi, upload)
        return True

    def _draw(self, plot: Plot, history, names, lo, hi, upload) -> None:
        columns = plot.columns()
        for name in names:
            xy = envelope(history.decimate(name, lo, hi, columns))
            xy[:, 1] = plot.transform_y(xy[:, 1])
            plot.series[name].write(xy, upload)
        yr = history.value_range(names, lo, hi)
        if yr is not None:
            y0, y1 = plot.transform_y(np.array(yr))
            plot.follow_data(hi, float(y0), float(y1))


VIEW = MetricsView  # what the registry (render/views/__init__.py) finds under this view's name
