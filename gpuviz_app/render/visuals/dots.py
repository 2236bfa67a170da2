"""Round dots of one colour and size: a metrics plot's evaluation points.

VisPy's `Markers` draws any of a dozen symbols with edges and antialiasing through one large
program, which took four times as long to make as this one and as long again to draw first;
an evaluation point needs none of that.
"""

from __future__ import annotations

import numpy as np
from vispy import gloo
from vispy.color import Color
from vispy.scene.visuals import create_visual_node

from gpuviz_app.render.visuals.plain import PlainVisual

_VERT = """
attribute vec2 a_position;
uniform float u_size;
void main() {
    gl_Position = $transform(vec4(a_position, 0.0, 1.0));
    gl_PointSize = u_size;
}
"""

_FRAG = """
uniform vec4 u_color;
uniform float u_size;
void main() {
    float r = length(gl_PointCoord - vec2(0.5)) * u_size;  // pixels from the dot's centre
    float alpha = clamp(0.5 * u_size - r + 0.5, 0.0, 1.0);  // a one-pixel soft edge
    if (alpha <= 0.0) discard;
    gl_FragColor = vec4(u_color.rgb, u_color.a * alpha);
}
"""


class DotsVisual(PlainVisual):
    """`set_points(xy, size, color)`: a dot of `size` pixels at each row of `xy` (n x 2)."""

    def __init__(self) -> None:
        super().__init__(vcode=_VERT, fcode=_FRAG)
        self._positions = gloo.VertexBuffer(np.zeros((0, 2), np.float32))
        self.shared_program["a_position"] = self._positions
        self.shared_program["u_color"] = (1.0, 1.0, 1.0, 1.0)
        self.size = 6.0  # document pixels: scaled with the canvas's pixels and an export's scale
        self._draw_mode = "points"
        self.set_gl_state("translucent")

    def set_points(self, xy: np.ndarray, size: float, color: str) -> None:
        xy = np.ascontiguousarray(xy, np.float32).reshape(-1, 2)
        self.count = len(xy)
        if self.count:
            self._positions.set_data(xy)
        self.size = float(size)
        self.shared_program["u_color"] = Color(color).rgba
        self.update()

    def _prepare_draw(self, view) -> bool | None:
        if super()._prepare_draw(view) is False:
            return False
        to_pixels = view.transforms.get_transform("document", "framebuffer")
        scale = float(abs(to_pixels.map((1, 0))[0] - to_pixels.map((0, 0))[0]))
        self.shared_program["u_size"] = self.size * scale
        return None


Dots = create_visual_node(DotsVisual)
