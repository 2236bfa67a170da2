"""The weights view's plots: a distribution over time (image or ridgeline) and layer health."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from vispy import scene

from gpuviz_app.render.colormaps import SEQUENTIAL, apply
from gpuviz_app.render.plot import BACKGROUND, Plot, steady_range
from gpuviz_app.render.upload import as_numpy
from gpuviz_app.render.visuals.density import Density
from gpuviz_app.render.visuals.mesh import Mesh

# Layer colours, kept clear of the metrics view's series colours (tests find curves by colour).
PALETTE = ("#b48ead", "#d08770", "#5e81ac", "#e5e9f0", "#d8a0df", "#f0a860", "#6fd08c", "#c9b458")
DEAD = "#bf616a"
RIDGES = 16
NO_STEPS = "no steps tracked yet"
NOT_RECORDED = "not recorded in this run"


def recorded(payload: Any, series: int) -> bool:
    """Whether a series holds values; False for one its source never recorded (a TensorBoard
    log's gradients) while some steps are held. A tracked step always counts its values."""
    held = np.flatnonzero(payload.tracked[: len(payload.column_steps)])
    return not len(held) or bool(np.any(as_numpy(payload.grid[series])[held, 3] > 0))


def _rgba(color: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    c = color.lstrip("#")
    return int(c[0:2], 16) / 255, int(c[2:4], 16) / 255, int(c[4:6], 16) / 255, alpha


def value_range(payload: Any, series: int) -> tuple[float, float] | None:
    """Extremes of a series over all its columns (from the bounds the probe reduced)."""
    ext = as_numpy(payload.extent[series])
    lo, hi = ext[:, 0], ext[:, 1]
    ok = np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return None
    return float(lo[ok].min()), float(hi[ok].max())


class DistributionPlot:
    """x = step, y = value, colour = density; one column per ring column, each on its own bins."""

    def __init__(self, capacity: int = 512, bins: int = 256) -> None:
        self.widget = scene.Widget()
        self.plot = Plot(self.widget, "Distribution")
        self.density = Density(capacity=capacity, bins=bins, parent=self.plot.view.scene)

    def show(self, payload: Any, series: int, title: str, upload, note: str = "") -> None:
        steps = payload.column_steps
        if self.plot.title != title:
            self.plot.title = title
            self.plot._decorated = None
            self.plot._resume_follow()
            self.plot._decorate()
        self.plot.set_note(note)
        n = min(len(steps), self.density.capacity)
        missing = not recorded(payload, series)
        self.plot.set_message(NOT_RECORDED if missing else "" if n else NO_STEPS)
        if not n or missing:
            self.density.write(payload.counts[series, :0], payload.grid[series, :0], 0.0, 1.0, 1.0, 0.0, 1.0, upload)
            return
        x0 = steps[0, 0] - 0.5
        x1 = steps[n - 1, 1] + 0.5
        yr = value_range(payload, series) or (-1.0, 1.0)
        self.density.write(payload.counts[series, :n], payload.grid[series, :n], x0, payload.stride, x1,
                           yr[0], yr[1], upload)
        self.plot.follow_data(x1, *yr, exact=True)  # the axis ends at the last step tracked


class RidgePlot:
    """Up to RIDGES columns spread over the run, each its histogram as a filled curve;
    y = step, so later ridges sit higher and earlier ones are drawn in front."""

    def __init__(self, bins: int = 256) -> None:
        self.widget = scene.Widget()
        self.plot = Plot(self.widget, "Ridgeline", xlabel="value")
        self.fill = Mesh(capacity=RIDGES * bins * 6, mode="triangles", parent=self.plot.view.scene)
        self.lines = Mesh(capacity=RIDGES * bins * 2, mode="lines", width=1.2, parent=self.plot.view.scene)
        self._range: tuple | None = None
        self._xr: tuple[float, float] | None = None
        self._yr: tuple[float, float] | None = None

    def show(self, payload: Any, series: int, title: str, upload) -> None:
        if self.plot.title != title:
            self.plot.title, self.plot._decorated = title, None
            self._xr = self._yr = None
        steps = payload.column_steps
        held = np.flatnonzero(payload.tracked[: len(steps)])  # columns in a gap hold nothing
        n = len(held)
        missing = not recorded(payload, series)
        self.plot.set_message(NOT_RECORDED if missing else "" if n else NO_STEPS)
        if not n or missing:
            empty = np.zeros((0, 6), np.float32)
            self.fill.write(empty, upload)
            self.lines.write(empty, upload)
            return
        picks = held[np.unique(np.round(np.linspace(0, n - 1, min(RIDGES, n))).astype(int))]
        counts = as_numpy(payload.counts[series])[picks].astype(np.float64)
        grid = as_numpy(payload.grid[series])[picks].astype(np.float64)
        base = steps[picks].mean(axis=1)
        spacing = (base[-1] - base[0]) / max(len(picks) - 1, 1) or 1.0
        fill, lines, xs = self._geometry(counts, grid, base, 1.8 * spacing)
        self.fill.write(fill, upload)
        self.lines.write(lines, upload)
        if len(xs):
            self._follow(float(xs.min()), float(xs.max()), float(base[0]), float(base[-1] + 1.9 * spacing))

    @staticmethod
    def _geometry(counts: np.ndarray, grid: np.ndarray, base: np.ndarray, height: float):
        fills, outlines, xs_all = [], [], []
        bg = _rgba(BACKGROUND)
        colours = apply(SEQUENTIAL, 0.3 + 0.7 * np.linspace(0, 1, len(base)))
        for r in range(len(base) - 1, -1, -1):  # latest (top) first: earlier ridges occlude it
            c = counts[r]
            nz = np.flatnonzero(c)
            if len(nz) == 0:
                continue
            a, b = max(nz[0] - 1, 0), min(nz[-1] + 2, len(c))
            lo, width, inv_max = grid[r, 0], grid[r, 1], grid[r, 2]
            x = lo + (np.arange(a, b) + 0.5) * width
            y = base[r] + height * np.sqrt(c[a:b] * inv_max)
            y0 = np.full_like(y, base[r])
            rgb = colours[r]
            fill_c = (0.55 * np.array(bg[:3]) + 0.45 * rgb).tolist() + [1.0]
            quad = np.stack([np.c_[x[:-1], y0[:-1]], np.c_[x[:-1], y[:-1]], np.c_[x[1:], y0[1:]],
                             np.c_[x[1:], y0[1:]], np.c_[x[:-1], y[:-1]], np.c_[x[1:], y[1:]]], axis=1)
            fills.append(np.c_[quad.reshape(-1, 2), np.tile(fill_c, (quad.shape[0] * 6, 1))])
            seg = np.stack([np.c_[x[:-1], y[:-1]], np.c_[x[1:], y[1:]]], axis=1).reshape(-1, 2)
            outlines.append(np.c_[seg, np.tile(list(rgb) + [1.0], (len(seg), 1))])
            xs_all.append(x)
        empty = np.zeros((0, 6), np.float32)
        fill = np.concatenate(fills).astype(np.float32) if fills else empty
        lines = np.concatenate(outlines).astype(np.float32) if outlines else empty
        return fill, lines, (np.concatenate(xs_all) if xs_all else np.zeros(0))

    def _follow(self, x0: float, x1: float, y0: float, y1: float) -> None:
        if not all(map(math.isfinite, (x0, x1, y0, y1))):
            return
        self._xr = steady_range(x0, x1, pad=0.04)
        self._yr = steady_range(y0, y1, pad=0.02)
        rng = (*self._xr, *self._yr)
        if rng != self._range:
            self._range = rng
            self.plot.view.camera.set_range(x=rng[:2], y=rng[2:], margin=0)


class HealthPlots:
    """Gradient norm and update-to-weight ratio per layer against step, log scale."""

    def __init__(self) -> None:
        self.widget = scene.Widget()
        grid = self.widget.add_grid(spacing=2, margin=0)
        self.grad = Plot(grid.add_widget(row=0, col=0), "Gradient norm")
        self.ratio = Plot(grid.add_widget(row=1, col=0), "Update / weight")
        for plot in (self.grad, self.ratio):
            plot.set_log(True)
        self.labels: list[str] = []
        self.dead: list[bool] = []

    def _series(self, plot: Plot, i: int):
        key = str(i)
        if key not in plot.series:
            plot.add_series(key, "", PALETTE[i % len(PALETTE)])
        return plot.series[key]

    def show(self, payload: Any, upload) -> None:
        layers = payload.layers
        latest = as_numpy(payload.latest)
        dead = [bool(latest[3, i] > 0) for i in range(len(layers))] if latest.size else []
        labels = [layer["label"] + (" (dead)" if d else "") for layer, d in zip(layers, dead)]
        held = np.flatnonzero(payload.tracked[: len(payload.column_steps)])  # gaps have no health
        health = as_numpy(payload.health)[:, held]  # (L, n, 3)
        missing = len(held) and not np.isfinite(health[..., :2]).any()  # a source without gradients
        steps = payload.column_steps[held]
        x = steps.mean(axis=1) if len(steps) else np.zeros(0)
        x_last = float(steps[-1, 1]) if len(steps) else 0.0
        for plot, k in ((self.grad, 0), (self.ratio, 1)):
            ys = []
            for i in range(len(layers)):
                series = self._series(plot, i)
                y = plot.transform_y(health[i, :, k].astype(np.float64))
                series.write(np.c_[x, y].astype(np.float32), upload)
                ys.append(y)
            for key, s in plot.series.items():
                if int(key) >= len(layers):
                    s.write(np.zeros((0, 2), np.float32), upload)
            plot.legend = [] if missing else [(label, DEAD if d else PALETTE[i % len(PALETTE)])
                                              for i, (label, d) in enumerate(zip(labels, dead))]
            plot.message = NOT_RECORDED if missing else "" if len(x) else NO_STEPS
            plot._decorated = None
            plot._decorate()
            if ys and len(x):
                allv = np.concatenate(ys)
                allv = allv[np.isfinite(allv)]
                if len(allv):
                    plot.follow_data(x_last, float(allv.min()), float(allv.max()), exact=True)
        self.labels, self.dead = labels, dead
