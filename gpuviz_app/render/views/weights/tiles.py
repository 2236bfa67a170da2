"""Layer tiles: a linear layer's weight matrix as a heatmap, a conv layer's filters as a grid.

Each tile owns one texture made at the layer's size when a run starts (R32F for a
matrix, RGBA8 for filters) and written in place after that. A matrix's colour range
is symmetric around zero, shown on a colourbar, and only grows within a run, in rounded
steps with headroom, so the same weight keeps its colour from frame to frame. A conv
layer with many input channels can show each filter's mean over its input channels
(one small tile per filter), readable at dock size. `pick` maps a canvas position to
(layer, row, column, value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from vispy import scene

from gpuviz_app.render.colormaps import DIVERGING, apply
from gpuviz_app.render.axes import format_tick
from gpuviz_app.render.plot import LEGEND_CHAR, TEXT, nice_ceil, shorten
from gpuviz_app.render.upload import as_numpy
from gpuviz_app.render.visuals.texture_image import TextureImage

LABEL_H = 16
HOVER_H = 16
BAR_W = 44  # pixels right of a matrix for its colourbar and its labels
MEAN_ABOVE = 4  # conv layers reading more input channels than this show channel means under "auto"
NO_PICTURES = "no weights to picture: this run recorded histograms only"


def symmetric_range(absmax: float) -> float:
    """A round vmax >= absmax (with headroom), from the payload alone (its `range_max` grows
    with the run on the training side): a replayed step shows the colours it showed live,
    whatever was shown before it."""
    if not np.isfinite(absmax) or absmax <= 0:
        return 1.0
    return nice_ceil(absmax * 1.15)


@dataclass
class MeanGrid:
    """A conv layer's filters, each the mean over its input channels, tiled like a FilterGrid."""

    per_filter: np.ndarray  # (H, W, 4) uint8
    shared: np.ndarray
    tile: tuple[int, int]
    grid: tuple[int, int]
    colour: bool
    shown: tuple[int, int]
    total: tuple[int, int]
    values: np.ndarray  # (filters, 1, kh, kw) float32


def channel_means(grid: Any) -> MeanGrid:
    """Each shown filter's mean over its input channels, tiled in a near-square grid."""
    values = as_numpy(grid.values).astype(np.float32)
    mean = values.mean(axis=1)  # (O, kh, kw)
    o, (th, tw) = len(mean), mean.shape[1:]
    gc = int(np.ceil(np.sqrt(o)))
    gr = int(np.ceil(o / gc))
    images = []
    for axes in ((1, 2), (0, 1, 2)):
        lo, hi = mean.min(axis=axes, keepdims=True), mean.max(axis=axes, keepdims=True)
        span = hi - lo
        t = np.where(span > 0, (mean - lo) / np.where(span > 0, span, 1.0), 0.5)
        image = np.zeros((gr * (th + 1) + 1, gc * (tw + 1) + 1, 4), np.uint8)
        for f in range(o):
            r, c = divmod(f, gc)
            y, x = 1 + r * (th + 1), 1 + c * (tw + 1)
            image[y : y + th, x : x + tw, :3] = np.round(t[f] * 255.0).astype(np.uint8)[..., None]
            image[y : y + th, x : x + tw, 3] = 255
        images.append(image)
    return MeanGrid(images[0], images[1], (th, tw), (gr, gc), False, (o, 1), tuple(grid.total),
                    mean[:, None])


def uses_means(grid: Any, conv: str) -> bool:
    """Whether a conv layer is shown as channel means under the "conv" option."""
    if grid.colour or grid.shown[1] == 1:
        return False  # already one tile per filter
    return conv == "channel mean" or (conv == "auto" and grid.total[1] > MEAN_ABOVE)


@dataclass
class Pick:
    layer: int
    row: int
    col: int
    value: float
    block: tuple[int, int] = (1, 1)  # weights per texel (pooled matrices)
    filter: bool = False

    def text(self, label: str) -> str:
        if self.filter:
            return f"{label}  filter {self.row}, channel {self.col}  w = {self.value:+.4g}"
        where = f"[{self.row}, {self.col}]"
        if self.block != (1, 1):
            r, c = self.block
            where = f"[{self.row * r}:{(self.row + 1) * r}, {self.col * c}:{(self.col + 1) * c}] (largest |w|)"
        return f"{label}  {where}  w = {self.value:+.4g}"


class Tile:
    def __init__(self, parent: scene.Widget, layer: dict, index: int, shape: tuple[int, int], kind: str) -> None:
        self.widget = scene.Widget(parent=None)
        self.layer, self.index, self.kind = layer, index, kind
        self.view = self.widget.add_view(bgcolor=None, border_color=None)
        self.view.camera = scene.PanZoomCamera(aspect=1 if kind == "rgba" else None)
        self.view.camera.flip = (False, True, False)
        self.image = TextureImage(shape, kind, parent=self.view.scene)
        self.label = scene.visuals.Text(layer["label"], color=TEXT, font_size=7, anchor_x="left",
                                        anchor_y="center", parent=self.widget)
        self.label_choices: tuple[str, ...] = (layer["label"],)  # longest first; the first that fits is shown
        self.bar = self.bar_text = None
        if kind == "diverging":  # a colourbar: +vmax at the top, 0, -vmax at the bottom
            colours = apply(DIVERGING, np.linspace(1.0, 0.0, 64))
            rgba = np.concatenate([colours, np.ones((64, 1))], axis=1).astype(np.float32)[:, None, :]
            self.bar = scene.visuals.Image(rgba, interpolation="nearest", parent=self.widget)
            self.bar.transform = scene.transforms.STTransform()
            self.bar_text = scene.visuals.Text(["", "0", ""], color=TEXT, font_size=6, anchor_x="left",
                                               anchor_y="center", parent=self.widget)
        self.vmax: float | None = None
        self.values: Any = None  # what the texture shows (tensor or array), for picking
        self.meta: Any = None
        self.widget.events.resize.connect(self._layout)
        self.view.camera.set_range(x=(0, shape[1]), y=(0, shape[0]), margin=0)

    def _layout(self, event=None) -> None:
        w, h = self.widget.size
        bar = BAR_W if self.bar is not None else 0
        self.view.pos = (2, LABEL_H)
        self.view.size = (max(w - 4 - bar, 1), max(h - LABEL_H - 2, 1))
        self.label.pos = (4, LABEL_H / 2)
        self._fit_label()
        if self.bar is not None:
            height = max(h - LABEL_H - 2, 1)
            x = w - bar + 2
            self.bar.transform.scale = (8, height / 64)
            self.bar.transform.translate = (x, LABEL_H)
            self.bar_text.pos = [(x + 11, LABEL_H + 4), (x + 11, LABEL_H + height / 2), (x + 11, LABEL_H + height - 4)]

    def show_matrix(self, matrix: Any, upload) -> None:
        self.image.write(matrix.values, upload)
        basis = matrix.absmax if getattr(matrix, "range_max", None) is None else matrix.range_max
        vmax = symmetric_range(float(as_numpy(basis).reshape(-1)[0]))
        if vmax != self.vmax:
            self.vmax = vmax
            self.image.set_range(vmax)
            self.bar_text.text = [f"+{format_tick(vmax)}", "0", f"\u2212{format_tick(vmax)}"]
        self.values, self.meta = matrix.values, matrix
        self._set_label(self.layer["label"])

    def show_filters(self, grid: Any, normalise: str, upload) -> None:
        means = isinstance(grid, MeanGrid)
        self.image.write(grid.shared if normalise == "shared" else grid.per_filter, upload)
        self.meta = grid
        shown = "" if grid.shown[0] == grid.total[0] else f"  (first {grid.shown[0]} of {grid.total[0]})"
        what = f"mean of {grid.total[1]} channels, " if means else ""
        label = self.layer["label"]
        self._set_label(f"{label}  {what}{normalise}{shown}", f"{label}  {'channel means' if means else normalise}",
                        label)

    def _set_label(self, *choices: str) -> None:
        """The label: the first of `choices` that fits the tile's width (else the last, cut),
        so a long one never runs into the next tile or plot."""
        self.label_choices = choices
        self._fit_label()

    def _fit_label(self) -> None:
        w = self.widget.size[0]
        chars = max(6, int((w - 6) / LEGEND_CHAR)) if w > 16 else 1_000  # not laid out yet: all of it
        text = next((c for c in self.label_choices if len(c) <= chars), shorten(self.label_choices[-1], chars))
        if self.label.text != text:
            self.label.text = text

    def pick(self, canvas: Any, pos: tuple[float, float]) -> Pick | None:
        local = canvas.scene.node_transform(self.view).map(pos)[:2]
        if not (0 <= local[0] < self.view.size[0] and 0 <= local[1] < self.view.size[1]) or self.meta is None:
            return None
        x, y = canvas.scene.node_transform(self.image).map(pos)[:2]
        h, w = self.image.shape
        if not (0 <= x < w and 0 <= y < h):
            return None
        col, row = int(x), int(y)
        if self.kind == "diverging":
            value = float(as_numpy(self.values)[row, col])
            return Pick(self.index, row, col, value, self.meta.block)
        return self._pick_filter(row, col)

    def _pick_filter(self, row: int, col: int) -> Pick | None:
        grid = self.meta
        th, tw = grid.tile
        gr, gc = divmod(row - 1, th + 1), divmod(col - 1, tw + 1)
        if row < 1 or col < 1 or gr[1] >= th or gc[1] >= tw or gr[0] >= grid.grid[0] or gc[0] >= grid.grid[1]:
            return None
        if grid.colour or grid.shown[1] == 1:  # one tile per filter (all its channels)
            f = gr[0] * grid.grid[1] + gc[0]
            if f >= grid.shown[0]:
                return None
            o, i = f, 0
        else:
            o, i = gr[0], gc[0]
        value = float(as_numpy(grid.values[o, i]).reshape(grid.tile)[gr[1], gc[1]])
        return Pick(self.index, o, i, value, filter=True)


class LayerTiles:
    """A grid of tiles for the layers shown; rebuilt only when the run's layers change."""

    def __init__(self) -> None:
        self.widget = scene.Widget()
        outer = self.widget.add_grid(spacing=0, margin=0)
        self.grid = outer.add_grid(row=0, col=0, spacing=4, margin=2)
        footer = outer.add_widget(row=1, col=0)
        footer.height_max = HOVER_H
        self.hover = scene.visuals.Text("", color=TEXT, font_size=8, anchor_x="left", anchor_y="center",
                                        pos=(6, HOVER_H / 2), parent=footer)
        self.tiles: list[Tile] = []
        self._key: tuple | None = None

    def ensure(self, payload: Any, shown: list[int], conv: str = "auto") -> None:
        pictured = [i for i in shown if i in payload.matrices or i in payload.filters]
        self.hover.text = "" if pictured or not shown else NO_PICTURES
        shown = pictured  # a logged histogram has no weights to picture
        means = tuple(i for i in shown if payload.layers[i]["kind"] != "linear" and uses_means(payload.filters[i], conv))
        key = (tuple(tuple(layer["shape"]) for layer in payload.layers), tuple(shown), means)
        if key == self._key:
            return
        self._key = key
        for tile in self.tiles:
            self.grid.remove_widget(tile.widget)
            tile.widget.parent = None  # VisPy's Grid.remove_widget leaves it in the scene, still drawn
        self.tiles = []
        cols = max(1, int(np.ceil(np.sqrt(len(shown)))))
        for n, i in enumerate(shown):
            layer = payload.layers[i]
            if layer["kind"] == "linear":
                shape, kind = tuple(payload.matrices[i].values.shape), "diverging"
            elif i in means:
                shape, kind = tuple(channel_means(payload.filters[i]).per_filter.shape[:2]), "rgba"
            else:
                shape, kind = tuple(payload.filters[i].per_filter.shape[:2]), "rgba"
            tile = Tile(self.widget, layer, i, shape, kind)
            self.grid.add_widget(tile.widget, row=n // cols, col=n % cols)
            self.tiles.append(tile)

    def update(self, payload: Any, normalise: str, upload, conv: str = "auto") -> None:
        for tile in self.tiles:
            if tile.kind == "diverging":
                tile.show_matrix(payload.matrices[tile.index], upload)
            else:
                grid = payload.filters[tile.index]
                tile.show_filters(channel_means(grid) if uses_means(grid, conv) else grid, normalise, upload)

    def pick(self, canvas: Any, pos: tuple[float, float]) -> Pick | None:
        for tile in self.tiles:
            hit = tile.pick(canvas, pos)
            if hit is not None:
                return hit
        return None
