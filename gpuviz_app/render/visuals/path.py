"""The optimiser's path (or a 1-D profile) over the loss surface: a 3-D line or points.

Vertices are (alpha, beta, raw loss) in a fixed-capacity float32 buffer; the vertex shader
maps them with the surface's own scale (clip, log, height), so path and surface always agree.
Unused vertices repeat the last point, as in the series visual.
"""

from __future__ import annotations

import numpy as np
from vispy import gloo
from vispy.color import Color
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

from gpuviz_app.render.visuals.surface import HEIGHT_GLSL

_VERT = HEIGHT_GLSL + """
uniform vec2 u_span;
uniform float u_zscale;
uniform float u_layout;  // 0: 3-D over the surface, 1: on the 2-D map, 2: a profile (x, height)
uniform float u_lift;
uniform float u_point_size;
attribute vec3 a_position;
void main() {
    float t = unit_height(a_position.z);
    vec2 xy = a_position.xy / u_span;
    vec3 p = u_layout < 0.5 ? vec3(xy, t * u_zscale + u_lift)
           : (u_layout < 1.5 ? vec3(xy, u_lift) : vec3(xy.x, t, u_lift));
    gl_Position = $transform(vec4(p, 1.0));
    gl_PointSize = u_point_size;
}
"""

_FRAG = """
uniform vec4 u_color;
uniform float u_round;
void main() {
    if (u_round > 0.5 && length(gl_PointCoord - vec2(0.5)) > 0.5)
        discard;
    gl_FragColor = u_color;
}
"""


class PathVisual(Visual):
    def __init__(self, capacity: int = 512, color: str = "white", width: float = 2.0,
                 points: bool = False, size: float = 10.0) -> None:
        super().__init__(vcode=_VERT, fcode=_FRAG)
        self.capacity = capacity
        self.positions = gloo.VertexBuffer(np.zeros((capacity, 3), np.float32))
        self._staging = np.zeros((capacity, 3), np.float32)
        p = self.shared_program
        p["a_position"] = self.positions
        p["u_color"] = Color(color).rgba
        p["u_round"] = 1.0 if points else 0.0
        p["u_point_size"] = float(size)
        p["u_lift"] = 0.0
        self._draw_mode = "points" if points else "line_strip"
        self.set_gl_state("translucent", depth_test=False, line_width=width)
        self.count = 0
        self.set_scale(0.0, 1.0, False)
        self.set_layout(0, (1.0, 1.0), 1.0)

    def set_scale(self, low: float, clip: float, log: bool) -> None:
        p = self.shared_program
        p["u_low"], p["u_clip"], p["u_log"] = float(low), float(clip), 1.0 if log else 0.0
        self.update()

    def set_layout(self, layout: int, span: tuple[float, float], zscale: float, lift: float = 0.0) -> None:
        p = self.shared_program
        p["u_layout"] = float(layout)
        p["u_span"] = (float(span[0]), float(span[1]))
        p["u_zscale"] = float(zscale)
        p["u_lift"] = float(lift)
        self.update()

    def write(self, rows: np.ndarray, upload) -> None:
        """Draw through `rows` (m x 3: alpha, beta, loss); the newest `capacity` are kept."""
        rows = rows[-self.capacity :]
        n = len(rows)
        if n:
            self._staging[:n] = rows
            self._staging[n:] = rows[-1]
        else:
            self._staging[:] = 0
        self.count = n
        upload.write_buffer(self.positions, self._staging)
        self.update()

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view) -> bool | None:
        minimum = 1 if self._draw_mode == "points" else 2
        return False if self.count < minimum else None

    def _compute_bounds(self, axis: int, view):
        return None


Path = create_visual_node(PathVisual)
