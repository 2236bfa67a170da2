"""The loss surface around the current weights, live, with the path the optimiser really took.

3-D (turntable camera) or a 2-D contour map; a 1-D profile in slice mode. The grid and
the path come from the "landscape" probe, which computes them in the background; this view
writes them into its fixed-capacity GL objects and sets a few uniforms (clip, log scale).
Surface, path and current point share one scale (the probe's, from the grid alone, fixed
for a grid once its levels are complete): a loss has the same colour and height everywhere,
read off the colour bar and the height axis's ticks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from vispy import scene

from gpuviz_app.core.probes.landscape.payload import (EVAL_BATCHES, MODES, RECENTRE_EVERY, RESOLUTIONS, SPANS,
                                                      LandscapePayload)
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.plot import FRAME, TEXT
from gpuviz_app.render.upload import UploadPath, as_numpy
from gpuviz_app.render.views.base import Action, Option, View
from gpuviz_app.render.visuals.path import Path
from gpuviz_app.render.visuals.surface import CAPACITY, Surface, height_ticks

PATH_COLOR = "#f4f4f4"
MARKER_COLOR = "#ff6b4a"
PROFILE_COLOR = "#88c0d0"
MODE_TITLES = {"random": "random filter-normalised plane", "pca": "PCA plane of the path",
               "slice": "1-D slice, filter-normalised"}
SURFACE, MAP, PROFILE = 0, 1, 2


class LandscapeView(View):
    name = "landscape"
    title = "Loss landscape"
    render_size = (900, 640)
    probe = "landscape"
    OPTIONS = (
        Option("display", "surface", choices=("surface", "map")),
        Option("directions", "random", choices=MODES, probe=True, probe_key="mode"),
        Option("log_loss", False, label="Log loss"),
        Option("contours", True),
        Option("resolution", 31, choices=RESOLUTIONS, label="Grid", probe=True),
        Option("eval_batch", 256, choices=EVAL_BATCHES, label="Samples", probe=True),
        Option("span", 1.0, choices=SPANS, label="Span", probe=True),
        Option("recentre_every", 500, choices=RECENTRE_EVERY, label="Re-centre every", probe=True),
        Option("include_bias", False, label="Move biases", probe=True),
    )
    ACTIONS = (Action("recentre", "Re-centre"),)  # a new centre at the current weights, now

    # -- building ------------------------------------------------------------------------------
    def attach(self, parent: scene.Widget) -> None:
        super().attach(parent)
        grid = parent.add_grid(spacing=0, margin=2)
        top = grid.add_widget(row=0, col=0, col_span=2)
        top.height_max = 24
        self.heading = scene.visuals.Text("Loss landscape: waiting for the first grid", color=TEXT, font_size=8,
                                          anchor_x="left", anchor_y="center", pos=(8, 12), parent=top)
        self.view = grid.add_view(row=1, col=0, bgcolor=None, border_color=None)
        self.colorbar = scene.ColorBarWidget(cmap="viridis", orientation="right", label="loss", label_color=TEXT,
                                             clim=("", ""), border_width=0, axis_ratio=0.06, padding=(0.12, 0.45))
        self.colorbar.width_max = 120
        grid.add_widget(self.colorbar, row=1, col=1)
        scene_root = self.view.scene
        self.surface = Surface(parent=scene_root)
        self.profile = Path(capacity=CAPACITY, color=PROFILE_COLOR, width=2.0, parent=scene_root)
        self.path = Path(color=PATH_COLOR, width=2.0, parent=scene_root)
        self.marker = Path(capacity=1, points=True, size=11.0, color=MARKER_COLOR, parent=scene_root)
        self.frame = scene.visuals.Line(color=FRAME, parent=scene_root, connect="segments", method="gl")
        self.axis_text = scene.visuals.Text("", color=TEXT, font_size=7, parent=scene_root)
        self.height_axis = scene.visuals.Line(color=FRAME, parent=scene_root, connect="segments", method="gl")
        self.height_text = scene.visuals.Text("", color=TEXT, font_size=7, anchor_x="right", parent=scene_root)
        self.turntable = scene.TurntableCamera(elevation=32, azimuth=-55, fov=35, up="+z")
        self.panzoom = scene.PanZoomCamera(aspect=1)
        self._payload: LandscapePayload | None = None
        self._shown: dict[str, Any] = {}
        self._layout: int | None = None
        self._scale: tuple | None = None
        self.options_changed()

    def options_changed(self) -> None:
        if self.parent is None:
            return
        self._shown.pop("scale", None)
        self._layout = None

    # -- updating ------------------------------------------------------------------------------
    def update(self, snapshot: Snapshot, upload: UploadPath) -> bool:
        if self.new_run(snapshot):
            self._shown.clear()
        p = snapshot.parts.get(self.probe)
        if not isinstance(p, LandscapePayload):
            return False
        changed = self._apply_layout(p)
        if p.grid is not None and len(p.grid.shape) == (1 if p.mode == "slice" else 2):
            key = (snapshot.run_id, p.grid_version)
            if self._shown.get("grid") != key:
                self._write_grid(p, upload)
                self._shown["grid"] = key
                changed = True
            path_key = (snapshot.run_id, p.path_version, p.grid_version)
            if p.path is not None and self._shown.get("path") != path_key:
                rows = as_numpy(p.path).astype(np.float32, copy=False)
                self.path.write(rows, upload)
                self.marker.write(rows[-1:], upload)
                self._shown["path"] = path_key
                changed = True
            changed |= self._apply_scale(p)
        heading = self._heading(p)
        if heading != self._shown.get("heading"):
            self.heading.text = heading
            self._shown["heading"] = heading
            changed = True
        return changed

    def _write_grid(self, p: LandscapePayload, upload: UploadPath) -> None:
        if p.mode == "slice":
            losses = as_numpy(p.grid).astype(np.float32, copy=False)
            rows = np.zeros((len(losses), 3), np.float32)
            rows[:, 0] = np.linspace(-p.span[0], p.span[0], len(losses))
            rows[:, 2] = losses
            self.profile.write(rows, upload)
        else:
            self.surface.write(p.grid, upload)

    def _apply_scale(self, p: LandscapePayload) -> bool:
        log = bool(self._options["log_loss"])
        scale = (p.low, p.clip, log)
        if scale == self._shown.get("scale") or not np.isfinite(p.low) or not np.isfinite(p.clip):
            return False
        self._shown["scale"] = scale
        for visual in (self.surface, self.path, self.marker, self.profile):
            visual.set_scale(p.low, p.clip, log)
        self.colorbar.clim = (f"{p.low:.3g}", f"{p.clip:.3g}")
        self.colorbar.label.text = "loss (log scale)" if log else "loss"
        self._height_ticks(p.low, p.clip, log)
        return True

    def _height_ticks(self, low: float, clip: float, log: bool) -> None:
        """Round losses along the height axis: a vertical axis at the back corner of the
        surface, the profile's left edge; none on the flat map (the colour bar reads it)."""
        layout = self._layout[0] if self._layout else MAP
        marks = height_ticks(low, clip, log) if layout != MAP else []
        self.height_axis.visible = self.height_text.visible = bool(marks)
        if not marks:
            return
        if layout == SURFACE:
            at = lambda t: (-1.0, 1.0, t)  # noqa: E731
            tick, label = (-0.06, 0.0, 0.0), (-0.1, 0.0, 0.0)
            segs = [at(0.0), at(1.0)]
        else:
            at = lambda t: (-1.0, t, 0.0)  # noqa: E731
            tick, label = (-0.03, 0.0, 0.0), (-0.05, 0.0, 0.0)
            segs = []
        pos = []
        for t, _ in marks:
            base = np.array(at(t))
            segs += [tuple(base), tuple(base + tick)]
            pos.append(tuple(base + label))
        self.height_axis.set_data(pos=np.array(segs, np.float32))
        self.height_text.text = [text for _, text in marks]
        self.height_text.pos = pos

    def _apply_layout(self, p: LandscapePayload) -> bool:
        if p.mode == "slice":
            layout = PROFILE
        else:
            layout = MAP if self._options["display"] == "map" else SURFACE
        key = (layout, p.span, tuple(p.axis_labels), bool(self._options["contours"]))
        if key == self._layout:
            return False
        self._layout = key
        flat = layout != SURFACE
        self.surface.visible = layout != PROFILE
        self.profile.visible = layout == PROFILE
        self.surface.set_style(zscale=1.0, flat=flat, contours=bool(self._options["contours"]), levels=12)
        for visual in (self.path, self.marker, self.profile):  # the surface's own height, no lift
            visual.set_layout(layout, p.span, 1.0, 0.0)
        if layout == SURFACE:
            self.view.camera = self.turntable
            self.turntable.set_range(x=(-1, 1), y=(-1, 1), z=(0, 1))
            self.turntable.center = (0.0, 0.0, 0.3)
            self.turntable.scale_factor = 3.4
        else:
            self.view.camera = self.panzoom
            self.panzoom.aspect = 1 if layout == MAP else None
            y = (-1.2, 1.2) if layout == MAP else (-0.08, 1.08)
            self.panzoom.set_range(x=(-1.2, 1.2), y=y, margin=0)
        self._frame(layout, p)
        self._shown.pop("scale", None)
        return True

    def _frame(self, layout: int, p: LandscapePayload) -> None:
        """The base square (or the profile's axes) and the axis names with their ranges."""
        if layout == PROFILE:
            segs = [(-1, 0, 0), (1, 0, 0), (-1, 0, 0), (-1, 1, 0)]
            texts = [f"{p.axis_labels[0]}  [{-p.span[0]:.3g}, {p.span[0]:.3g}]"]
            pos = [(0.0, -0.05, 0.0)]
        else:
            c = [(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0)]
            segs = [c[0], c[1], c[1], c[2], c[2], c[3], c[3], c[0]]
            labels = tuple(p.axis_labels) + ("",) * (2 - len(p.axis_labels))
            texts = [f"{labels[0]}  [{-p.span[0]:.3g}, {p.span[0]:.3g}]",
                     f"{labels[1]}  [{-p.span[1]:.3g}, {p.span[1]:.3g}]"]
            pos = [(0.0, -1.12, 0.0), (1.12, 0.0, 0.0)]
        self.frame.set_data(pos=np.array(segs, np.float32))
        self.axis_text.text = texts
        self.axis_text.pos = pos

    def _heading(self, p: LandscapePayload) -> str:
        if p.state == "error" or p.grid is None:
            return f"Loss landscape: {p.message or 'waiting for the first grid'}"
        n = p.resolution
        size = f"{n}" if p.mode == "slice" else f"{n}\u00d7{n}"
        state = {"computing": f"refining {100 * p.progress:.0f}%", "done": "complete",
                 "cancelled": f"cancelled at {100 * p.progress:.0f}%"}.get(p.state, p.state)
        text = (f"{MODE_TITLES.get(p.mode, p.mode)} \u00b7 {size} \u00b7 {p.eval_batch} samples \u00b7 "
                f"centre at step {p.centre_step} (loss {p.centre_loss:.3g}) \u00b7 {state}")
        return text + (f" \u00b7 {p.message}" if p.message else "")


VIEW = LandscapeView  # what the registry (render/views/__init__.py) finds under this view's name
