"""Loss and accuracy against step, live, decimated to one min/max pair per pixel column.

Training series are lines (one min/max pair per pixel column); evaluations are sparse,
so they are drawn as markers, never joined: a straight line between two evaluations 50
steps apart would read as measured progress. A blank plot says why, a diverged run is
marked at its step, and a loss spike switches the loss axis to log (or clipped) unless
the user chose an axis.
"""

from __future__ import annotations

import math

import numpy as np
from vispy import scene

from gpuviz_app.core.history import Decimated, MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.plot import Plot, nice_ceil
from gpuviz_app.render.upload import UploadPath
from gpuviz_app.render.views.base import Option, View

COLORS = {"train_loss": "#88c0d0", "eval_loss": "#ebcb8b", "train_acc": "#70a080", "eval_acc": "#a3be8c"}
DIVERGED = "#bf616a"
LOSS_AXES = ("auto", "linear", "log", "clipped")
SPIKE = 50.0  # a loss this many times its typical column maximum is a spike
SPAN = 1000.0  # ... and so is one spanning this many times its low values (three decades)
NO_DATA, NOT_FINITE = "no data yet", "values are not finite"


def envelope(d: Decimated) -> np.ndarray:
    """Vertices tracing each column's min then max, so the strip covers every extreme."""
    xy = np.empty((2 * len(d), 2), np.float32)
    xy[0::2, 0] = d.x
    xy[1::2, 0] = d.x
    xy[0::2, 1] = d.ymin
    xy[1::2, 1] = d.ymax
    return xy


def loss_scale(mode: str, d: Decimated) -> tuple[str, float]:
    """The loss axis ("linear", "log" or "clipped") and the clip value for `mode`.

    "auto" is linear until a spike (a column maximum `SPIKE` times the typical one, or
    values spanning `SPAN` times their low end), then log, or clipped where values reach 0.
    """
    top = d.ymax[np.isfinite(d.ymax)]
    low = d.ymin[np.isfinite(d.ymin)]
    if mode == "linear" or not len(top):
        return "linear", math.inf
    clip = nice_ceil(2.0 * float(np.percentile(top, 90)))
    positive = bool(len(low)) and float(low.min()) > 0
    if mode == "log":
        return ("log", math.inf) if positive else ("clipped", clip)
    if mode == "clipped":
        return "clipped", clip
    peak, typical = float(top.max()), float(np.median(top))
    floor = float(np.percentile(low, 5)) if len(low) else 0.0
    spike = peak > SPIKE * typical or (floor > 0 and peak > SPAN * floor)
    if not spike:
        return "linear", math.inf
    return ("log", math.inf) if positive else ("clipped", clip)


class MetricsView(View):
    name = "metrics"
    title = "Metrics"
    render_size = (900, 560)
    OPTIONS = (Option("loss_axis", "auto", choices=LOSS_AXES, label="Loss axis",
                      choice_labels={"auto": "loss axis: auto", "linear": "loss axis: linear",
                                     "log": "loss axis: log", "clipped": "loss axis: clipped"}),)

    def attach(self, parent: scene.Widget) -> None:
        super().attach(parent)
        grid = parent.add_grid(spacing=4, margin=2, bgcolor=None)
        self.loss = Plot(grid.add_widget(row=0, col=0), "Loss (cross-entropy)")
        self.loss.add_series("train_loss", "train", COLORS["train_loss"])
        self.acc = Plot(grid.add_widget(row=1, col=0), "Accuracy")
        self.acc.add_series("train_acc", "train (batch)", COLORS["train_acc"])
        self.markers: dict[str, scene.visuals.Markers] = {}
        for plot, name in ((self.loss, "eval_loss"), (self.acc, "eval_acc")):
            plot.legend.append(("eval points", COLORS[name]))
            marker = scene.visuals.Markers(pos=np.zeros((1, 2), np.float32), parent=plot.view.scene)
            marker.visible = False
            self.markers[name] = marker
        self._last: tuple | None = None

    def options_changed(self) -> None:
        self._last = None

    def update(self, snapshot: Snapshot, upload: UploadPath) -> bool:
        if self.new_run(snapshot):
            self._last = None
            self.loss._resume_follow()
            self.acc._resume_follow()
        history = snapshot.metrics
        names = history.names
        key = (snapshot.run_id, snapshot.step, snapshot.diverged_step, self._options["loss_axis"],
               self.loss.columns(), *(history.total(n) for n in names))
        if key == self._last:
            return False
        self._last = key
        span = history.step_range()
        hi = max(span[1] if span else 0, snapshot.step, 1)
        columns = self.loss.columns()
        train = history.decimate("train_loss", 0, hi, columns)
        self.loss.set_scale(*loss_scale(self._options["loss_axis"], train))
        self.loss.set_note(f"step {snapshot.step}")
        marks = [] if snapshot.diverged_step is None else \
            [(float(snapshot.diverged_step), DIVERGED, f"diverged at step {snapshot.diverged_step}")]
        for plot, line, points in ((self.loss, "train_loss", "eval_loss"), (self.acc, "train_acc", "eval_acc")):
            plot.set_marks(marks)
            self._draw(plot, history, line, points, hi, upload)
        return True

    def _draw(self, plot: Plot, history: MetricsHistory, line: str, points: str, hi: int,
              upload: UploadPath) -> None:
        columns = plot.columns()
        present = [n for n in (line, points) if n in history.names]
        if line in history.names:
            xy = envelope(history.decimate(line, 0, hi, columns))
            xy[:, 1] = plot.transform_y(xy[:, 1])
            plot.series[line].write(xy[np.isfinite(xy[:, 1])], upload)
        marker = self.markers[points]
        xy = np.zeros((0, 2), np.float32)
        if points in history.names:
            d = history.decimate(points, 0, hi, columns)
            xy = np.c_[d.x, plot.transform_y(d.ymax)].astype(np.float32)
            xy = xy[np.isfinite(xy[:, 1])]
        if len(xy):
            marker.set_data(pos=xy, size=6, face_color=COLORS[points], edge_color=COLORS[points], edge_width=0)
        marker.visible = bool(len(xy))
        yr = history.value_range(tuple(present), 0, hi)
        if yr is None:
            logged = any(history.total(n) for n in present)
            plot.set_message(NOT_FINITE if logged else NO_DATA)
            plot.follow_data(hi, 0.0, 1.0)  # the step axis still matches the other plot's
            return
        plot.set_message("")
        y0, y1 = plot.transform_y(np.array(yr, np.float64))
        plot.follow_data(hi, float(y0), float(y1))


VIEW = MetricsView  # what the registry (render/views/__init__.py) finds under this view's name
