"""Layer tiles: a linear layer's weight matrix as a heatmap, a conv layer's filters as a grid.

Each tile owns one texture made at the layer's size when a run starts (R32F for a
matrix, RGBA8 for filters) and written in place after that. A matrix's colour range
is symmetric around zero and moves only in rounded jumps (hysteresis), so it does not
flicker. `pick` maps a canvas position to (layer, row, column, value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from vispy import scene

from gpuviz_app.render.plot import TEXT, nice_ceil
from gpuviz_app.render.upload import as_numpy
from gpuviz_app.render.visuals.texture_image import TextureImage

LABEL_H = 16
HOVER_H = 16


def symmetric_range(current: float | None, absmax: float) -> float:
    """A round vmax >= absmax, kept while absmax stays within (0.4, 1] of it."""
    if not np.isfinite(absmax) or absmax <= 0:
        return current or 1.0
    if current is not None and 0.4 * current < absmax <= current:
        return current
    return nice_ceil(absmax * 1.15)


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
        self.vmax: float | None = None
        self.values: Any = None  # what the texture shows (tensor or array), for picking
        self.meta: Any = None
        self.widget.events.resize.connect(self._layout)
        self.view.camera.set_range(x=(0, shape[1]), y=(0, shape[0]), margin=0)

    def _layout(self, event=None) -> None:
        w, h = self.widget.size
        self.view.pos = (2, LABEL_H)
        self.view.size = (max(w - 4, 1), max(h - LABEL_H - 2, 1))
        self.label.pos = (4, LABEL_H / 2)

    def show_matrix(self, matrix: Any, upload) -> None:
        self.image.write(matrix.values, upload)
        absmax = float(as_numpy(matrix.absmax).reshape(-1)[0])
        vmax = symmetric_range(self.vmax, absmax)
        if vmax != self.vmax:
            self.vmax = vmax
            self.image.set_range(vmax)
        self.values, self.meta = matrix.values, matrix
        self.label.text = f"{self.layer['label']}  \u00b1{self.vmax:.3g}"

    def show_filters(self, grid: Any, normalise: str, upload) -> None:
        self.image.write(grid.shared if normalise == "shared" else grid.per_filter, upload)
        self.meta = grid
        shown = "" if grid.shown == grid.total else f"  (first {grid.shown[0]} of {grid.total[0]})"
        self.label.text = f"{self.layer['label']}  {normalise}{shown}"

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

    def ensure(self, payload: Any, shown: list[int]) -> None:
        key = (tuple(tuple(layer["shape"]) for layer in payload.layers), tuple(shown))
        if key == self._key:
            return
        self._key = key
        for tile in self.tiles:
            self.grid.remove_widget(tile.widget)
        self.tiles = []
        cols = max(1, int(np.ceil(np.sqrt(len(shown)))))
        for n, i in enumerate(shown):
            layer = payload.layers[i]
            if layer["kind"] == "linear":
                shape, kind = tuple(payload.matrices[i].values.shape), "diverging"
            else:
                shape, kind = tuple(payload.filters[i].per_filter.shape[:2]), "rgba"
            tile = Tile(self.widget, layer, i, shape, kind)
            self.grid.add_widget(tile.widget, row=n // cols, col=n % cols)
            self.tiles.append(tile)

    def update(self, payload: Any, normalise: str, upload) -> None:
        for tile in self.tiles:
            if tile.kind == "diverging":
                tile.show_matrix(payload.matrices[tile.index], upload)
            else:
                tile.show_filters(payload.filters[tile.index], normalise, upload)

    def pick(self, canvas: Any, pos: tuple[float, float]) -> Pick | None:
        for tile in self.tiles:
            hit = tile.pick(canvas, pos)
            if hit is not None:
                return hit
        return None
