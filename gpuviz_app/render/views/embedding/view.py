"""A layer's embedding, live: every sample as a point, coloured by class, pickable.

The probe projects on the training device; this view writes the positions into one GL
buffer per frame (labels only when the sample changes, predictions only when the colours
use them) and lets the shader animate from the previous frame. Picking works on the CPU
from the last positions (a screen-space grid), never by rendering IDs.
"""

from __future__ import annotations

import time

import numpy as np
from vispy import scene

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.picking import ScreenGrid, to_screen
from gpuviz_app.render.plot import TEXT, steady_range
from gpuviz_app.render.upload import UploadPath, as_numpy
from gpuviz_app.render.views.base import Option, View
from gpuviz_app.render.views.embedding.overlay import (RIGHT, WRONG, InfoPanel, Legend, class_colors, hex_rgb,
                                                       parse_class_filter)
from gpuviz_app.render.views.embedding.value_bins import value_bin_colors, with_value_bins
from gpuviz_app.render.visuals.points import Points, palette_capacity

METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
PICK_RADIUS = 8.0  # pixels
TOP = 28  # pixels above the cloud kept for the status line, so points never cover it
COLLAPSED = 1e-6  # a cloud narrower than this fraction of its distance from 0 is one point
EVERY = (1, 5, 10, 25, 100)
POINT_SIZES = (1, 2, 3, 4, 6, 8)


def _dimensions(dims: str) -> int:
    return 3 if dims == "3-D" else 2


class EmbeddingView(View):
    name = "embedding"
    title = "Embedding"
    render_size = (800, 600)
    probe = "embedding"
    OPTIONS = (
        Option("color_by", "class", choices=("class", "predicted", "correct"), label="Colour by",
               choice_labels={"class": "colour: class", "predicted": "colour: predicted",
                              "correct": "colour: correct?"}),
        Option("dims", "2-D", choices=("2-D", "3-D"), label="Dimensions", probe=True, to_probe=_dimensions),
        Option("method", "pca", choices=tuple(METHOD_NAMES), label="Projection", choice_labels=METHOD_NAMES,
               probe=True),
        # The layer names are known only once a run started: the panel's own control lists them.
        Option("layer", "penultimate", probe=True),
        Option("samples", 10_000, choices=(1_000, 10_000, 100_000, 1_000_000), label="Samples (at most)",
               choice_labels={1_000: "1k samples", 10_000: "10k samples", 100_000: "100k samples",
                              1_000_000: "1M samples"}, probe=True),
        Option("every", 10, choices=EVERY, label="Every k steps",
               choice_labels={k: "every step" if k == 1 else f"every {k} steps" for k in EVERY}, probe=True),
        Option("point_size", 4, choices=POINT_SIZES, label="Point size",
               choice_labels={size: f"{size} px" for size in POINT_SIZES}),
        Option("animate", True, label="Animate"),
        Option("class_filter", ""),  # "3, 8" or class names; the panel's own control edits it
    )

    def __init__(self) -> None:
        super().__init__()
        self.frame = None  # the embedding shown; None until a run's first frame
        self.points: Points | None = None
        self.selected: int | None = None  # dataset index
        self.hovered: int | None = None

    # -- construction -----------------------------------------------------------------------------
    def attach(self, parent: scene.Widget) -> None:
        super().attach(parent)
        self.viewbox = parent.add_view(bgcolor=None, border_color=None)
        self.viewbox.camera = scene.PanZoomCamera(aspect=1)
        self.points = None
        self.highlight = scene.visuals.Markers(pos=np.zeros((1, 2), np.float32), parent=self.viewbox.scene)
        self.highlight.visible = False
        self.legend = Legend(parent)
        self.info = InfoPanel(parent)
        self.reason = scene.visuals.Text("", color=TEXT, font_size=10, anchor_x="center", anchor_y="center",
                                         parent=parent)
        self.selected = self.hovered = None
        self.follow = True
        self._upload: UploadPath | None = None
        self._connected = False
        self._press: tuple[float, float] | None = None
        self._last_press = 0.0
        self._reset_state()
        parent.events.resize.connect(self._layout)
        self.viewbox.events.mouse_wheel.connect(self._user_moved)
        self._layout()

    def _reset_state(self) -> None:
        self._frame_no = -1
        self._sample_id = -1
        self._epoch = -1
        self._pred_frame = -1
        self._host_positions: tuple[int, np.ndarray] | None = None
        self._grid: tuple[tuple, ScreenGrid] | None = None
        self._range: tuple | None = None
        self._style_dirty = True
        self._keep: np.ndarray | None = None
        self._shown_step: int | None = None  # the step of the positions drawn (the last finite ones)
        self.frame = None
        self.selected = self.hovered = None
        if self.parent is not None:
            self.info.clear()
            self.highlight.visible = False
            self.reason.text = ""

    def _layout(self, event=None) -> None:
        w, h = self.parent.size
        self.viewbox.pos = (0, TOP)
        self.viewbox.size = (max(w, 1), max(h - TOP, 1))
        self.reason.pos = (w / 2, TOP + (h - TOP) / 2 + 28)  # below the centre, where a collapsed cloud sits
        self.legend.layout()
        self.info.layout()

    def options_changed(self) -> None:
        self._style_dirty = True

    # -- updates ----------------------------------------------------------------------------------
    def update(self, snapshot: Snapshot, upload: UploadPath) -> bool:
        self._upload = upload
        self._connect_mouse()
        if self.new_run(snapshot):
            self._reset_state()
        frame = snapshot.parts.get(self.probe) if self.probe else None
        if frame is None:
            return False
        self._value_bins = not frame.classes
        frame = with_value_bins(frame)  # a regression run: target values in ranges
        new_frame = frame.frame != self._frame_no
        if not new_frame and not self._style_dirty:
            if snapshot.finished and self.points is not None and self.points.animating:
                self.points.finish_transition()  # a finished run shows its last frame as it is
                return True
            return False
        n, restart = len(frame), frame.epoch != self._epoch
        if self.points is None or self.points.capacity != n or self.points.dims != frame.dims \
                or self.points.palette_size < palette_capacity(len(frame.classes)):
            self._make_points(n, frame.dims, len(frame.classes))
            restart = True
        if frame.sample_id != self._sample_id or restart:
            self.points.set_labels(frame.labels, upload)
            self._labels = as_numpy(frame.labels).astype(np.int64)
            self._index = as_numpy(frame.index).astype(np.int64)
            self._sample_id = frame.sample_id
            self._style_dirty = True
            self._grid = None
        mode = self._options["color_by"]
        if mode != "class" and (self._pred_frame != frame.frame or restart):
            self.points.set_predicted(frame.predicted, upload)
            self._pred_frame = frame.frame
        self.frame = frame
        if new_frame or restart:
            animate = self._options["animate"] and not restart and not snapshot.finished
            bounds = as_numpy(frame.bounds) if frame.bounds is not None else \
                np.stack([as_numpy(frame.positions.amin(0)), as_numpy(frame.positions.amax(0))])
            finite = bool(np.all(np.isfinite(bounds)))
            if finite or self._shown_step is None:  # otherwise the last finite picture stays
                self.points.set_positions(frame.positions, upload, animate=animate and finite, bounds=bounds)
                self._shown_step = frame.step if finite else None
            self._frame_no, self._epoch = frame.frame, frame.epoch
            self._follow(bounds, refit=restart)
            self._set_reason(frame.step, bounds)
        if self._style_dirty:
            self._apply_style(frame, upload)
        self._show_status(snapshot, frame)
        self._refresh_info()
        return True

    def _make_points(self, n: int, dims: int, classes: int) -> None:
        if self.points is not None:
            self.points.parent = None
        self.points = Points(n, dims=dims, classes=classes, size=self._options["point_size"],
                             parent=self.viewbox.scene)
        self.highlight.parent = None
        self.highlight.parent = self.viewbox.scene  # drawn after the points
        if dims == 3:
            self.viewbox.camera = scene.TurntableCamera(fov=45, elevation=25, azimuth=30)
        else:
            self.viewbox.camera = scene.PanZoomCamera(aspect=1)
        self.follow = True
        self._range = None
        self._style_dirty = True
        self._pred_frame = -1

    def _apply_style(self, frame, upload: UploadPath) -> None:
        o = self._options
        keep = parse_class_filter(o["class_filter"], frame.classes)
        self._keep = keep
        colors = value_bin_colors(len(frame.classes)) if self._value_bins else class_colors(len(frame.classes))
        colors[:, 3] = np.where(keep, 255, 0)
        self.points.set_palette(colors, upload)
        self.points.set_mode(o["color_by"])
        self.points.set_size(o["point_size"])
        if o["color_by"] != "class" and self._pred_frame != frame.frame:
            self.points.set_predicted(frame.predicted, upload)
            self._pred_frame = frame.frame
        if o["color_by"] == "correct":
            self.legend.set_entries([("correct", (*hex_rgb(RIGHT), 255)), ("wrong", (*hex_rgb(WRONG), 255))])
        else:
            self.legend.set_entries([(name, tuple(int(v) for v in colors[i][:3]) + (255,))
                                     for i, name in enumerate(frame.classes) if keep[i]])
        self._grid = None
        self._style_dirty = False

    def _set_reason(self, step: int, bounds: np.ndarray) -> None:
        """Say why the cloud shows nothing new: a non-finite or a collapsed projection."""
        if not np.all(np.isfinite(bounds)):
            kept = "" if self._shown_step is None else f"; showing step {self._shown_step}"
            self.reason.text = f"the projection at step {step} is not finite{kept}"
        elif float(np.max(bounds[1] - bounds[0])) <= COLLAPSED * max(float(np.max(np.abs(bounds))), 1e-30):
            self.reason.text = f"the embedding collapsed to one point at step {step}"
        else:
            self.reason.text = ""

    def _show_status(self, snapshot: Snapshot, frame) -> None:
        method = METHOD_NAMES.get(frame.method, frame.method)
        step = f"step {frame.step}"
        if frame.step < snapshot.step:  # the projection lags the training (it runs every k steps)
            step += f" (training at {snapshot.step})"
        text = (f"{method} {frame.dims}-D of {frame.layer} ({frame.features} features) · {len(frame):,} points "
                f"· {step}")
        self.info.set_status(text + (f"  —  {frame.status}" if frame.status else ""))

    def _follow(self, bounds: np.ndarray, refit: bool) -> None:
        """Keep the cloud in view until the user pans or zooms (double-click resumes)."""
        if refit:
            self.follow = True
            self._range = None
        if not self.follow or not np.all(np.isfinite(bounds)):
            return
        ranges = tuple(steady_range(float(bounds[0, a]), float(bounds[1, a])) for a in range(bounds.shape[1]))
        if ranges != self._range:
            self._range = ranges
            cam = self.viewbox.camera
            if bounds.shape[1] == 3:
                cam.set_range(x=ranges[0], y=ranges[1], z=ranges[2], margin=0)
            else:
                cam.set_range(x=ranges[0], y=ranges[1], margin=0)

    # -- picking ------------------------------------------------------------------------------------
    def positions_host(self) -> np.ndarray | None:
        """The current frame's positions on the host (copied once per frame, only when asked)."""
        if self.frame is None:
            return None
        if self._host_positions is None or self._host_positions[0] != self.frame.frame:
            self._host_positions = (self.frame.frame, as_numpy(self.frame.positions))
        return self._host_positions[1]

    def _screen_grid(self) -> ScreenGrid | None:
        positions = self.positions_host()
        if positions is None or self.points is None:
            return None
        tr = self.points.get_transform("visual", "canvas")
        probe = np.zeros((4, positions.shape[1]), np.float32)
        probe[1:, :] = np.eye(4, positions.shape[1])[:3]
        signature = (self.frame.frame, self._options["class_filter"], np.round(tr.map(probe), 4).tobytes())
        if self._grid is None or self._grid[0] != signature:
            visible = np.flatnonzero(self._keep[self._labels]) if self._keep is not None else None
            shown = positions if visible is None else positions[visible]
            self._grid = (signature, ScreenGrid(to_screen(tr, shown), cell=PICK_RADIUS, ids=visible))
        return self._grid[1]

    def _inside(self, x_px: float, y_px: float) -> bool:
        local = self.viewbox.get_transform("canvas", "visual").map([x_px, y_px])[:2]
        w, h = self.viewbox.size
        return 0 <= local[0] < w and 0 <= local[1] < h

    def pick(self, x_px: float, y_px: float) -> int | None:
        """The dataset index of the point drawn nearest canvas pixel (x_px, y_px), or None."""
        if self.frame is None or not self._inside(x_px, y_px):
            return None
        grid = self._screen_grid()
        point = None if grid is None else grid.nearest(x_px, y_px, PICK_RADIUS)
        return None if point is None else int(self._index[point])

    def find_sample(self, index: int) -> bool:
        """Select dataset sample `index` (highlight it, show its input); False if it is not in the sample."""
        if self.frame is None or self._point_of(index) is None:
            return False
        self.selected = int(index)
        self._refresh_info()
        return True

    def select(self, index: int | None) -> None:
        self.selected = index
        self._refresh_info()

    def _point_of(self, index: int) -> int | None:
        i = int(np.searchsorted(self._index, index))
        return i if i < len(self._index) and self._index[i] == index else None

    def _refresh_info(self) -> None:
        shown = self.hovered if self.hovered is not None else self.selected
        point = None if shown is None or self.frame is None else self._point_of(shown)
        if point is None or self._upload is None:
            self.info.clear()
            self.highlight.visible = False
            return
        f = self.frame
        label = int(self._labels[point])
        predicted = int(as_numpy(f.predicted[point : point + 1])[0])
        self.info.show(shown, f.classes[label], f.classes[predicted], f.inputs[shown], f.kind, self._upload)
        position = as_numpy(f.positions[point : point + 1]).astype(np.float32)
        self.highlight.set_data(pos=position, symbol="ring", size=16, edge_width=0, face_color="white")
        self.highlight.visible = True

    # -- mouse ----------------------------------------------------------------------------------------
    def _connect_mouse(self) -> None:
        canvas = self.parent.canvas if self.parent is not None else None
        if self._connected or canvas is None:
            return
        canvas.events.mouse_move.connect(self._on_move)
        canvas.events.mouse_press.connect(self._on_press)
        canvas.events.mouse_release.connect(self._on_release)
        self._connected = True

    def _on_move(self, event) -> None:
        if event.button is not None or event.is_dragging:
            if self._press is not None:
                self.follow = False
            return
        hovered = self.pick(*event.pos[:2])
        if hovered != self.hovered:
            self.hovered = hovered
            self._refresh_info()

    def _on_press(self, event) -> None:
        if not self._inside(*event.pos[:2]):
            return
        self._press = tuple(event.pos[:2])
        now = time.monotonic()
        if now - self._last_press < 0.35 and self.points is not None and self.points.data_bounds is not None:
            self._range = None
            self.follow = True
            self._follow(self.points.data_bounds, refit=True)
        self._last_press = now

    def _on_release(self, event) -> None:
        press, self._press = self._press, None
        if press is None:
            return
        if np.hypot(event.pos[0] - press[0], event.pos[1] - press[1]) <= 3:
            self.select(self.pick(*event.pos[:2]))

    def _user_moved(self, event=None) -> None:
        self.follow = False
