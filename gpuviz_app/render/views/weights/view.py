"""What each layer learns: weights as pictures, their distributions over time, layer health.

Panels: layer tiles (matrix heatmaps and filter grids; all layers or one), the chosen
layer's weight or gradient distribution over every step so far (an image, or a
ridgeline), and per-layer gradient norm and update-to-weight ratio with dead layers
flagged. In "all" mode a click on a tile picks the layer the distributions show.
Hovering a tile shows (row, column, value); `value_at` answers the same for a canvas
position. Reads the "weights" probe's payload (`WeightsPayload`, `core.probes.weights`).
"""

from __future__ import annotations

import math
from typing import Any

from vispy import scene

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.plot import TEXT
from gpuviz_app.render.upload import UploadPath, as_numpy
from gpuviz_app.render.views.base import Option, View
from gpuviz_app.render.views.weights.plots import DistributionPlot, HealthPlots, RidgePlot
from gpuviz_app.render.views.weights.tiles import LayerTiles, Pick

LAYER_CHOICES = ("all", *(str(i) for i in range(1, 9)))
SHOW_CHOICES = ("overview", "weights", "distribution", "ridgeline", "health")


class WeightsView(View):
    name = "weights"
    title = "Weights"
    render_size = (960, 640)
    probe = "weights"
    OPTIONS = (
        Option("layer", "all", choices=LAYER_CHOICES, label="Layer"),
        Option("show", "overview", choices=SHOW_CHOICES, label="Show"),
        Option("histogram", "weights", choices=("weights", "gradients"), label="Histogram of"),
        Option("normalise", "per filter", choices=("per filter", "shared"), label="Filter scale"),
        # a conv layer reading many channels as one small tile per filter (its channels' mean)
        Option("conv", "auto", choices=("auto", "all channels", "channel mean"), label="Conv filters",
               choice_labels={"auto": "conv: auto", "all channels": "conv: all channels",
                              "channel mean": "conv: channel mean"}),
        # Tracking every step costs training time, so by default only the steps taken while
        # this view is on screen are tracked.
        Option("track_hidden", False, label="Track while hidden", probe=True),
    )
    payload: Any = None  # the payload drawn last (none before the canvas is made and fed)

    def attach(self, parent: scene.Widget) -> None:
        super().attach(parent)
        self.grid = parent.add_grid(spacing=4, margin=2, bgcolor=None)
        self.tiles = LayerTiles()
        self.distribution = DistributionPlot()
        self.ridges = RidgePlot()
        self.health = HealthPlots()
        self.hover = self.tiles.hover
        self.status = scene.visuals.Text("waiting for the first steps\u2026", color=TEXT, font_size=9,
                                         parent=parent)
        parent.events.resize.connect(self._place_texts)
        self.payload: Any = None
        self._finite_step: int | None = None  # the step of the last payload before a divergence
        self.focus: int | None = None  # the layer the distributions show in "all" mode (None: the largest)
        self.hover_text = ""
        self._version = -1
        self._dirty = True
        self._placed: tuple | None = None
        self._connected = False
        self._layout()
        self._place_texts()

    # -- layout and options -------------------------------------------------------------------
    def _layout(self) -> None:
        show = self._options["show"]
        panels = {
            "overview": [(self.tiles, 0, 0), (self.distribution, 0, 1), (self.ridges, 1, 0), (self.health, 1, 1)],
            "weights": [(self.tiles, 0, 0)],
            "distribution": [(self.distribution, 0, 0)],
            "ridgeline": [(self.ridges, 0, 0)],
            "health": [(self.health, 0, 0)],
        }[show]
        if self._placed == (show,):
            return
        for panel in (self.tiles, self.distribution, self.ridges, self.health):
            if panel.widget.parent is not None:
                self.grid.remove_widget(panel.widget)
                panel.widget.parent = None  # VisPy's Grid.remove_widget leaves it in the scene, still drawn
        for panel, row, col in panels:
            self.grid.add_widget(panel.widget, row=row, col=col)
        self._placed = (show,)

    def options_changed(self) -> None:
        if self.parent is not None:
            self._layout()
            self._dirty = True

    def _place_texts(self, event=None) -> None:
        w, h = self.parent.size
        self.status.pos = (w / 2, h / 2)

    def shown_layers(self) -> list[int]:
        if self.payload is None:
            return []
        n = len(self.payload.layers)
        if self._options["layer"] == "all":
            return list(range(n))
        return [min(int(self._options["layer"]), n) - 1]

    def focus_layer(self) -> int:
        shown = self.shown_layers()
        if len(shown) == 1:
            return shown[0]
        if not shown:
            return 0
        if self.focus is None:
            sizes = [math.prod(layer["shape"]) for layer in self.payload.layers]
            return max(range(len(sizes)), key=sizes.__getitem__)
        return min(self.focus, len(shown) - 1)

    # -- updates -----------------------------------------------------------------------------
    def update(self, snapshot: Snapshot, upload: UploadPath) -> bool:
        self._connect()
        if self.new_run(snapshot):
            self.payload, self._version, self._dirty, self.focus = None, -1, True, None
            self._finite_step = None
            self.status.text = "waiting for the first steps\u2026"
            self.status.visible = True
        payload = snapshot.parts.get(self.probe)
        version = snapshot.version(self.probe)
        if payload is None:
            return False
        note = f"step {payload.step}"
        if payload.step < snapshot.step:  # tracking lags the training
            note += f" (training at {snapshot.step})"
        if version == self._version and not self._dirty:
            if note == self.distribution.plot.note:
                return False
            self.distribution.plot.set_note(note)
            return True
        self.payload, self._version, self._dirty = payload, version, False
        if not payload.layers:
            self.status.text = "this model has no weight matrices or filters"
            return True
        show = self._options["show"]
        diverged = snapshot.diverged_step is not None and payload.step >= snapshot.diverged_step
        keep = diverged and self._finite_step is not None and self.tiles.tiles
        if diverged:  # the tiles keep the last finite weights; the plots end where the values did
            kept = f": the tiles show step {self._finite_step}" if keep else ""
            self.status.text = f"diverged at step {snapshot.diverged_step}{kept}"
            self.status.visible = True
        else:
            self.status.visible = False
            self._finite_step = payload.step
        if show in ("overview", "weights") and not keep:
            self.tiles.ensure(payload, self.shown_layers(), self._options["conv"])
            self.tiles.update(payload, self._options["normalise"], upload, self._options["conv"])
        layer = self.focus_layer()
        grads = self._options["histogram"] == "gradients"
        series = layer + (len(payload.layers) if grads else 0)
        info = payload.layers[layer]
        if info["kind"] == "histogram":  # a logged histogram: its tag says what it holds
            title = (info.get("gradient") or f"gradient of {info['name']}") if grads else info["name"]
        else:
            title = f"{'Gradients' if grads else 'Weights'} of {info['label']}"
        if show in ("overview", "distribution"):
            self.distribution.show(payload, series, title, upload, note)
        if show in ("overview", "ridgeline"):
            self.ridges.show(payload, series, title, upload)
        if show in ("overview", "health"):
            self.health.show(payload, upload)
        return True

    # -- mouse -------------------------------------------------------------------------------
    def _connect(self) -> None:
        canvas = self.parent.canvas if self.parent is not None else None
        if self._connected or canvas is None:
            return
        canvas.events.mouse_move.connect(self._on_move)
        canvas.events.mouse_press.connect(self._on_press)
        self._connected = True

    def value_at(self, x: float, y: float) -> Pick | None:
        """The weight under canvas position (x, y) in logical pixels, if any."""
        canvas = self.parent.canvas
        if canvas is None or self.tiles.widget.parent is None:
            return None
        return self.tiles.pick(canvas, (x, y))

    def describe(self, hit: Pick | None) -> str:
        if hit is None or self.payload is None:
            return ""
        return hit.text(self.payload.layers[hit.layer]["label"])

    def _on_move(self, event) -> None:
        text = self.describe(self.value_at(*event.pos[:2]))
        if text != self.hover_text:
            self.hover_text = text
            self.hover.text = text
            self.parent.canvas.update()

    def _on_press(self, event) -> None:
        hit = self.value_at(*event.pos[:2])
        if hit is not None and self._options["layer"] == "all" and hit.layer != self.focus:
            self.focus = hit.layer
            self._dirty = True

    def dead_layers(self) -> list[str]:
        """Labels of the layers whose gradient was all zero at the last step."""
        if self.payload is None or not self.payload.layers:
            return []
        dead = as_numpy(self.payload.latest)[3]
        return [layer["label"] for layer, d in zip(self.payload.layers, dead) if d > 0]
