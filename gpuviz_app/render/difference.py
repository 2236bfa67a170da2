"""The difference of one layer's weight matrix between two compared runs, as a heatmap.

Run B minus run A at the step shown, through the weights view's diverging colormap on a range
symmetric around zero (so zero is always the dark centre, and red means B is larger). Matrices
of different shapes have no difference: the view says so instead of drawing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from vispy import scene

from gpuviz_app.core.probes.weights.payload import MatrixImage
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.plot import TEXT
from gpuviz_app.render.upload import UploadPath, as_numpy
from gpuviz_app.render.views.base import View
from gpuviz_app.render.views.weights.tiles import Tile
from gpuviz_app.store.compare import COMPARED, ComparedRuns, compared_runs

WEIGHTS = "weights"  # the part holding a run's weights payload
NO_MATRICES = "no weight matrices recorded yet (only linear layers have one)"


@dataclass(frozen=True)
class Difference:
    """`values` = B - A (float32, None when there is none to show, then `message` says why)."""

    values: np.ndarray | None
    message: str = ""
    label: str = ""
    block: tuple[int, int] = (1, 1)
    shape: tuple[int, int] = (0, 0)

    @property
    def absmax(self) -> float:
        if self.values is None or not self.values.size:
            return 0.0
        finite = self.values[np.isfinite(self.values)]
        return float(np.abs(finite).max()) if finite.size else 0.0


def _weights(compared: ComparedRuns, run: int) -> Any:
    return compared.snapshots[run].parts.get(WEIGHTS) if compared.recorded[run] else None


def matrix_layers(compared: ComparedRuns | None) -> list[tuple[int, str]]:
    """(layer index, label) of every layer with a weight matrix in any of the runs, by index."""
    found: dict[int, str] = {}
    for run in range(len(compared.names) if compared is not None else 0):
        payload = _weights(compared, run)
        for index in getattr(payload, "matrices", {}) or {}:
            layers = payload.layers
            found.setdefault(int(index), str(layers[index]["label"]) if index < len(layers) else f"layer {index}")
    return sorted(found.items())


def matrix_difference(compared: ComparedRuns | None, layer: int | None, a: int = 0, b: int = 1) -> Difference:
    """Layer `layer`'s matrix in run `b` minus run `a`, or why there is none."""
    if compared is None:
        return Difference(None, "no runs to compare")
    names = compared.names
    layers = dict(matrix_layers(compared))
    if not layers:
        return Difference(None, NO_MATRICES)
    if layer not in layers:
        layer = next(iter(layers))
    label = layers[layer]
    matrices = []
    for run in (a, b):
        payload = _weights(compared, run)
        if payload is None:
            return Difference(None, f"{names[run]} has no weights recorded at or before step {compared.step}",
                              label)
        matrix = (payload.matrices or {}).get(layer)
        if matrix is None:
            return Difference(None, f"{names[run]} has no weight matrix for {label}", label)
        matrices.append(matrix)
    ma, mb = matrices
    if tuple(ma.shape) != tuple(mb.shape) or tuple(ma.block) != tuple(mb.block):
        sa, sb = (f"{r}\u00d7{c}" for r, c in (ma.shape, mb.shape))
        return Difference(None, f"{label}: the shapes differ ({sa} in {names[a]}, {sb} in {names[b]}), so there is "
                                "no difference to show", label)
    values = as_numpy(mb.values).astype(np.float32) - as_numpy(ma.values).astype(np.float32)
    return Difference(values, "", label, tuple(ma.block), tuple(ma.shape))


class DifferenceView(View):
    """Shows `matrix_difference` of the compared step it is given: `choose` the layer and the two
    runs (B minus A). `shown` is the last difference computed (what the heatmap holds)."""

    name = "difference"
    title = "Difference"
    render_size = (560, 420)

    def __init__(self) -> None:
        super().__init__()
        self.layer: int | None = None
        self.pair = (0, 1)
        self.shown = Difference(None, "no runs to compare")
        self.step: int | None = None
        self._tile: Tile | None = None
        self._tile_key: tuple | None = None
        self._last: tuple | None = None

    def choose(self, layer: int | None, a: int = 0, b: int = 1) -> None:
        self.layer, self.pair = layer, (a, b)
        self._last = None

    def attach(self, parent: scene.Widget) -> None:
        super().attach(parent)
        self.grid = parent.add_grid(spacing=0, margin=2)
        self.text = scene.visuals.Text("", color=TEXT, font_size=9, anchor_x="center", anchor_y="center",
                                       parent=parent)
        parent.events.resize.connect(self._place_text)

    def _place_text(self, event=None) -> None:
        w, h = self.parent.size
        self.text.pos = (w / 2, h / 2)

    def update(self, snapshot: Snapshot, upload: UploadPath) -> bool:
        compared = compared_runs(snapshot)
        key = (snapshot.step, snapshot.version(COMPARED), self.layer, self.pair)
        if key == self._last:
            return False
        self._last = key
        self.step = snapshot.step
        a, b = self.pair
        runs = len(compared.names) if compared is not None else 0
        if max(a, b) >= runs:
            a, b = 0, min(1, max(runs - 1, 0))
        shown = self.shown = matrix_difference(compared, self.layer, a, b)
        if shown.values is None:
            self._drop_tile()
            self.text.text = shown.message
            return True
        self.text.text = ""
        names = compared.names
        tile_key = (shown.label, shown.values.shape)
        if tile_key != self._tile_key:
            self._drop_tile()
            self._tile = Tile(None, {"label": shown.label}, 0, shown.values.shape, "diverging")
            self.grid.add_widget(self._tile.widget, row=0, col=0)
            self._tile_key = tile_key
        tile = self._tile
        tile.vmax = None  # the range follows this difference, symmetric around zero
        tile.show_matrix(MatrixImage(shown.values, np.float32(shown.absmax), shown.block, shown.shape), upload)
        tile._set_label(f"{shown.label}  {names[b]} \u2212 {names[a]}", shown.label)
        return True

    def _drop_tile(self) -> None:
        if self._tile is not None:
            self.grid.remove_widget(self._tile.widget)
            self._tile.widget.parent = None
            self._tile = None
            self._tile_key = None


__all__ = ["Difference", "DifferenceView", "matrix_difference", "matrix_layers"]
