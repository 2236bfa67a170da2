"""Every scalar of a run against step, live, decimated to one min/max pair per pixel column.

Series are placed on plots by name (`groups`): the built-in trainer's Loss and Accuracy
plots, and a plot per quantity, prefix or lone name for the scalars a script sends. Training
series are lines; evaluations are sparse, so they are drawn as markers, never joined. A
blank plot says why, a diverged run is marked at its step, and a loss spike switches the
loss axis to log (or clipped) unless the user chose an axis. A distributed job's per-rank
series get a plot per quantity, with the straggler named by the newest "distributed" part
highlighted.
"""

from __future__ import annotations

import numpy as np
from vispy import scene
from vispy.scene.visuals import create_visual_node
from vispy.visuals.text.text import FontManager

from gpuviz_app.core.distributed.payload import DistributedPayload
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.even_grid import EvenGrid
from gpuviz_app.render.plot import Plot
from gpuviz_app.render.upload import UploadPath
from gpuviz_app.render.visuals.dots import Dots
from gpuviz_app.render.visuals.series import SeriesVisual
from gpuviz_app.render.views.base import Option, View
from gpuviz_app.render.views.metrics.curves import band, envelope, loss_scale
from gpuviz_app.render.views.metrics.groups import (
    ACCURACY,
    BAND,
    LINE,
    LOSS,
    WIDTH,
    PlotGroup,
    SeriesLook,
    plot_groups,
)
from gpuviz_app.store.compare import compared_runs

DIVERGED = "#bf616a"
LOSS_AXES = ("auto", "linear", "log", "clipped")
NO_DATA, NOT_FINITE = "no data yet", "values are not finite"
BUILTIN_LOSS_TITLE = "Loss (cross-entropy)"  # the built-in trainer's loss; a script's may be anything
DISTRIBUTED = "distributed"  # the snapshot part a distributed job's leader publishes


def straggler_of(snapshot: Snapshot) -> int:
    """The rank the others wait for, as the newest distributed payload says; -1 for none."""
    payload = snapshot.parts.get(DISTRIBUTED)
    return int(payload.straggler) if isinstance(payload, DistributedPayload) else -1


def run_names(snapshot: Snapshot) -> tuple[str, ...]:
    """The names of the runs a compared step shows (their series overlaid), else ()."""
    compared = compared_runs(snapshot)
    return compared.names if compared is not None else ()


class BandVisual(SeriesVisual):
    """The area between each column's min and max, filled: the envelope's vertices (min, max,
    min, max, ...) taken as a triangle strip."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._draw_mode = "triangle_strip"


Band = create_visual_node(BandVisual)


def arrangement(count: int) -> list[tuple[int, int, int]]:
    """(row, column, column span) of `count` plots: one column for up to three, then two or
    three columns filled row by row, the last plot spanning what its row leaves free."""
    cols = 1 if count <= 3 else 2 if count <= 8 else 3
    cells = [(i // cols, i % cols, 1) for i in range(count)]
    if cells:
        row, col, _ = cells[-1]
        cells[-1] = (row, col, cols - col)
    return cells


class MetricsView(View):
    name = "metrics"
    title = "Metrics"
    render_size = (900, 560)
    OPTIONS = (Option("loss_axis", "auto", choices=LOSS_AXES, label="Loss axis",
                      choice_labels={"auto": "loss axis: auto", "linear": "loss axis: linear",
                                     "log": "loss axis: log", "clipped": "loss axis: clipped"}),)

    def attach(self, parent: scene.Widget) -> None:
        super().attach(parent)
        self.grid = parent.add_widget(EvenGrid(spacing=4, margin=2))
        self._fonts = FontManager(method="cpu")  # the plots' glyph atlas: they share one canvas
        self.plots: dict[str, Plot] = {}
        self.markers: dict[str, Dots] = {}  # series drawn as points, by name
        self.groups: list[PlotGroup] = []
        self._placed: list[tuple[Plot, tuple[int, int, int]]] = []
        self._names: tuple | None = None
        self.loss = self._plot(LOSS, BUILTIN_LOSS_TITLE)
        self.acc = self._plot(ACCURACY, "Accuracy")
        self._show(plot_groups(("train_loss", "eval_loss", "train_acc", "eval_acc"), BUILTIN_LOSS_TITLE))
        self._last: tuple | None = None

    def options_changed(self) -> None:
        self._last = None

    # -- which plots, where ---------------------------------------------------------------------
    def _plot(self, key: str, title: str) -> Plot:
        """The plot of group `key`, made on first use (placed in the grid by `_show`)."""
        plot = self.plots.get(key)
        if plot is None:
            plot = self.plots[key] = Plot(scene.Widget(), title, fonts=self._fonts)
        return plot

    def _show(self, groups: list[PlotGroup]) -> None:
        """Make the plots and series of `groups`, drop the others, and lay the plots out."""
        self.groups = groups
        wanted = {g.key for g in groups}
        for key in [k for k in self.plots if k not in wanted and k not in (LOSS, ACCURACY)]:
            self.plots.pop(key).widget.parent = None
        shown_names = set()
        for group in groups:
            plot = self._plot(group.key, group.title)
            plot.title = group.title
            for look in group.series:
                self._series(plot, look)
            shown_names.update(group.names)
            keep = set(group.names)
            for name in [n for n in plot.series if n not in keep]:
                plot.series.pop(name).parent = None
            plot.legend = [(look.label, look.color) for look in group.series]
            plot.refresh()
        for name in [n for n in self.markers if n not in shown_names]:
            self.markers.pop(name).parent = None
        for plot in (self.loss, self.acc):  # kept for the built-in trainer's runs, emptied when not shown
            if plot not in (self.plots[g.key] for g in groups):
                for name in list(plot.series):
                    plot.series.pop(name).parent = None
        placed = [(self.plots[g.key], cell) for g, cell in zip(groups, arrangement(len(groups)))]
        if [(id(p), c) for p, c in placed] == [(id(p), c) for p, c in self._placed]:
            return
        for plot, _ in self._placed:
            self.grid.remove_widget(plot.widget)
            plot.widget.parent = None
        for plot, (row, col, span) in placed:
            self.grid.add_cell(plot.widget, row, col, span)
        self._placed = placed

    def _series(self, plot: Plot, look: SeriesLook) -> None:
        if look.style in (LINE, BAND):
            line = plot.series.get(look.name)
            if line is None and look.style == BAND:
                line = plot.series[look.name] = Band(color=look.color, parent=plot.view.scene)
            elif line is None:
                line = plot.add_series(look.name, look.label, look.color)
            line.set_color(look.color)
            line.set_gl_state("translucent", line_width=look.width)
            # every visual lies at one depth and the depth test keeps the first drawn: the
            # straggler's line goes first (nothing covers it), a band last (it covers nothing)
            line.order = 1 if look.style == BAND else -1 if look.width > WIDTH else 0
            return
        marker = self.markers.get(look.name)
        if marker is None or marker.parent is not plot.view.scene:
            if marker is not None:
                marker.parent = None
            self.markers[look.name] = Dots(parent=plot.view.scene)

    # -- drawing --------------------------------------------------------------------------------
    def update(self, snapshot: Snapshot, upload: UploadPath) -> bool:
        if self.new_run(snapshot):
            self._last = None
            for plot in self.plots.values():
                plot._resume_follow()
        history = snapshot.metrics
        totals = history.totals()
        loss_title = BUILTIN_LOSS_TITLE if snapshot.config is not None else "Loss"
        names = (tuple(totals), loss_title, straggler_of(snapshot), run_names(snapshot))
        if names != self._names:
            self._names = names
            self._show(plot_groups(names[0], loss_title, straggler=names[2], runs=names[3]))
        key = (snapshot.run_id, snapshot.step, snapshot.diverged_step, self._options["loss_axis"], names,
               tuple(self.plots[g.key].columns() for g in self.groups), tuple(totals.values()))
        if key == self._last:
            return False
        self._last = key
        span = history.step_range()
        hi = max(span[1] if span else 0, snapshot.step, 1)
        marks = [] if snapshot.diverged_step is None else \
            [(float(snapshot.diverged_step), DIVERGED, f"diverged at step {snapshot.diverged_step}")]
        for i, group in enumerate(self.groups):
            plot = self.plots[group.key]
            if group.key == LOSS:
                lines = [s.name for s in group.series if s.style == LINE]
                main = "train_loss" if "train_loss" in lines else (lines[0] if lines else "train_loss")
                train = history.decimate(main, 0, hi, plot.columns())
                plot.set_scale(*loss_scale(self._options["loss_axis"], train))
            plot.set_note(f"step {snapshot.step}" if i == 0 else "")
            plot.set_marks(marks)
            self._draw(plot, group, history, totals, hi, upload)
        return True

    def _draw(self, plot: Plot, group: PlotGroup, history: MetricsHistory, totals: dict[str, int], hi: int,
              upload: UploadPath) -> None:
        columns = plot.columns()
        for look in group.series:
            if look.style == BAND:
                d = band([history.decimate(n, 0, hi, columns) for n in look.members], 0, hi, columns)
            else:
                d = history.decimate(look.name, 0, hi, columns)
            if look.style in (LINE, BAND):
                xy = envelope(d)
                xy[:, 1] = plot.transform_y(xy[:, 1])
                plot.series[look.name].write(xy[np.isfinite(xy[:, 1])], upload)
                continue
            marker = self.markers[look.name]
            xy = np.c_[d.x, plot.transform_y(d.ymax)].astype(np.float32)
            marker.set_points(xy[np.isfinite(xy[:, 1])], 6, look.color)
        yr = history.value_range(group.sources, 0, hi)
        if yr is None:
            logged = any(totals.get(n, 0) for n in group.sources)
            plot.set_message(NOT_FINITE if logged else NO_DATA)
            plot.follow_data(hi, 0.0, 1.0)  # the step axis still matches the other plots'
            return
        plot.set_message("")
        y0, y1 = plot.transform_y(np.array(yr, np.float64))
        plot.follow_data(hi, float(y0), float(y1))


__all__ = ["DIVERGED", "LOSS_AXES", "MetricsView", "arrangement"]
