"""A point cloud for millions of points whose update is one position-buffer write.

Positions live in two float32 (N, 2|3) vertex buffers: the one drawn last ("from") and
the one just written ("to"); the vertex shader mixes them with a uniform `t`, so a
transition between frames costs no upload at all. Labels and predictions are separate
float32 (N,) buffers, written only when they change, and colours come from a small
palette texture indexed in the shader (alpha 0 hides a class). Stock `Markers.set_data`
instead rebuilds and uploads a 56-byte record per point on every call.
"""

from __future__ import annotations

import time

import numpy as np
from vispy import gloo
from vispy.color import Color
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

COLOR_MODES = {"class": 0.0, "predicted": 1.0, "correct": 2.0}

_VERT = """
attribute {vec} a_from;
attribute {vec} a_to;
attribute float a_label;
attribute float a_pred;
uniform float u_t;
uniform float u_size;
uniform float u_mode;
uniform float u_palette_size;
uniform sampler2D u_palette;
uniform vec4 u_right;
uniform vec4 u_wrong;
varying vec4 v_color;

vec4 palette(float label) {{
    return texture2D(u_palette, vec2((label + 0.5) / u_palette_size, 0.5));
}}

void main() {{
    vec4 own = palette(a_label);
    if (own.a < 0.5) {{  // class filtered out
        gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
        gl_PointSize = 0.0;
        v_color = vec4(0.0);
        return;
    }}
    vec4 color = own;
    if (u_mode > 1.5) {{
        color = abs(a_pred - a_label) < 0.5 ? u_right : u_wrong;
    }} else if (u_mode > 0.5) {{
        color = palette(a_pred);
    }}
    v_color = vec4(color.rgb, 1.0);
    {vec} p = mix(a_from, a_to, u_t);
    gl_Position = $transform(vec4({pad}, 1.0));
    gl_PointSize = u_size;
}}
"""

_FRAG = """
uniform float u_size;
varying vec4 v_color;
void main() {
    if (u_size > 3.5) {
        vec2 d = gl_PointCoord - vec2(0.5);
        if (dot(d, d) > 0.25) discard;
    }
    gl_FragColor = v_color;
}
"""


def palette_capacity(classes: int) -> int:
    """Texture width holding `classes` colours (a power of two, at least 16)."""
    return max(16, 1 << max(0, int(classes) - 1).bit_length())


class PointsVisual(Visual):
    """`capacity` points in `dims` (2 or 3) dimensions; every buffer is allocated once here.

    A different number of points or dimensions needs a new visual (the view makes one when
    the sample or the projection changes, never per frame).
    """

    def __init__(self, capacity: int, dims: int = 2, classes: int = 10, size: float = 3.0,
                 duration: float = 0.3) -> None:
        if dims not in (2, 3):
            raise ValueError("dims must be 2 or 3")
        vec = "vec2" if dims == 2 else "vec3"
        pad = "p, 0.0" if dims == 2 else "p"
        super().__init__(vcode=_VERT.format(vec=vec, pad=pad), fcode=_FRAG)
        self.capacity = int(capacity)
        self.dims = dims
        self.positions = [gloo.VertexBuffer(np.zeros((self.capacity, dims), np.float32)) for _ in range(2)]
        self.labels = gloo.VertexBuffer(np.zeros(self.capacity, np.float32))
        self.predicted = gloo.VertexBuffer(np.zeros(self.capacity, np.float32))
        self.palette_size = palette_capacity(classes)
        self.palette = gloo.Texture2D(np.zeros((1, self.palette_size, 4), np.uint8), interpolation="nearest")
        self._palette_staging = np.zeros((1, self.palette_size, 4), np.uint8)
        self._front = 0  # index of the buffer holding the newest positions
        self.duration = duration
        self._started = 0.0
        self.t = 1.0
        self.count = 0
        self._bounds: np.ndarray | None = None
        prog = self.shared_program
        prog["a_from"] = self.positions[0]
        prog["a_to"] = self.positions[0]
        prog["a_label"] = self.labels
        prog["a_pred"] = self.predicted
        prog["u_palette"] = self.palette
        prog["u_palette_size"] = float(self.palette_size)
        prog["u_t"] = 1.0
        prog["u_size"] = float(size)
        prog["u_mode"] = 0.0
        prog["u_right"] = Color("#a3be8c").rgba
        prog["u_wrong"] = Color("#bf616a").rgba
        self._draw_mode = "points"
        self.set_gl_state("translucent", depth_test=False)

    # -- writes (each through the upload path, into the buffers allocated above) --------------
    def set_positions(self, positions, upload, animate: bool = True, bounds: np.ndarray | None = None) -> None:
        """Upload (capacity, dims) float32 positions; only this buffer is written."""
        n = int(positions.shape[0])
        if n != self.capacity or positions.shape[1] != self.dims:
            raise ValueError(f"points hold {self.capacity} x {self.dims}, got {tuple(positions.shape)}")
        back = 1 - self._front
        upload.write_buffer(self.positions[back], positions)
        previous = self.positions[self._front] if animate and self.count else self.positions[back]
        self._front = back
        self.shared_program["a_from"] = previous
        self.shared_program["a_to"] = self.positions[back]
        self.count = n
        if bounds is not None:
            self._bounds = np.asarray(bounds, np.float64)
        self._started = time.perf_counter()
        self.t = 0.0 if previous is not self.positions[back] and self.duration > 0 else 1.0
        self.shared_program["u_t"] = self.t
        self.update()

    def set_labels(self, labels, upload) -> None:
        upload.write_buffer(self.labels, labels)
        self.update()

    def set_predicted(self, predicted, upload) -> None:
        upload.write_buffer(self.predicted, predicted)
        self.update()

    def set_palette(self, rgba: np.ndarray, upload) -> None:
        """Colours (C, 4) uint8, one per class; alpha 0 hides the class."""
        staging = self._palette_staging
        staging[:] = 0
        c = min(len(rgba), self.palette_size)
        staging[0, :c] = rgba[:c]
        upload.write_texture(self.palette, staging)
        self.update()

    def set_mode(self, mode: str) -> None:
        self.shared_program["u_mode"] = COLOR_MODES[mode]
        self.update()

    def set_size(self, size: float) -> None:
        self.shared_program["u_size"] = float(size)
        self.update()

    def finish_transition(self) -> None:
        self.t = 1.0
        self.shared_program["u_t"] = 1.0
        self.update()

    @property
    def data_bounds(self) -> np.ndarray | None:
        """(2, dims) lower and upper corners of the newest positions, as given to `set_positions`."""
        return self._bounds

    @property
    def animating(self) -> bool:
        return self.t < 1.0

    # -- Visual ---------------------------------------------------------------------------------
    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view) -> bool | None:
        if self.count == 0:
            return False
        if self.t < 1.0:
            elapsed = time.perf_counter() - self._started
            self.t = min(1.0, elapsed / self.duration) if self.duration > 0 else 1.0
            self.shared_program["u_t"] = self.t
            if self.t < 1.0:
                self.update()  # keep drawing until the transition ends
        return None

    def _compute_bounds(self, axis: int, view):
        if self._bounds is None or axis >= self.dims:
            return None
        return tuple(self._bounds[:, axis])


Points = create_visual_node(PointsVisual)
