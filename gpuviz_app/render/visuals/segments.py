"""Line segments, each vertex with its own colour: a plot's axes, grid, frame and marks.

VisPy's `Line` visual does the same with a general program (connect modes, colour functions,
antialiasing) that costs three times as much to make and more to draw first; a plot makes its
decorations at start-up, so they use this small one.
"""

from __future__ import annotations

import numpy as np
from vispy import gloo
from vispy.scene.visuals import create_visual_node

from gpuviz_app.render.visuals.plain import PlainVisual

_VERT = """
attribute vec2 a_position;
attribute vec4 a_color;
varying vec4 v_color;
void main() {
    gl_Position = $transform(vec4(a_position, 0.0, 1.0));
    v_color = a_color;
}
"""

_FRAG = """
varying vec4 v_color;
void main() {
    gl_FragColor = v_color;
}
"""


class SegmentsVisual(PlainVisual):
    """`set_data(pos, color)`: pairs of rows of `pos` (2n x 2) are segments, `color` (2n x 4) RGBA."""

    def __init__(self) -> None:
        super().__init__(vcode=_VERT, fcode=_FRAG)
        self._positions = gloo.VertexBuffer(np.zeros((0, 2), np.float32))
        self._colors = gloo.VertexBuffer(np.zeros((0, 4), np.float32))
        self.shared_program["a_position"] = self._positions
        self.shared_program["a_color"] = self._colors
        self._draw_mode = "lines"
        self.set_gl_state("translucent", line_width=1.0)  # (GL keeps the last visual's width)

    def set_data(self, pos: np.ndarray, color: np.ndarray) -> None:
        pos = np.ascontiguousarray(pos, np.float32).reshape(-1, 2)
        color = np.ascontiguousarray(color, np.float32).reshape(-1, 4)
        if len(pos) != len(color):
            raise ValueError(f"segments: {len(pos)} positions but {len(color)} colours")
        self.count = len(pos) - len(pos) % 2
        if self.count:
            self._positions.set_data(pos[: self.count])
            self._colors.set_data(color[: self.count])
        self.update()


Segments = create_visual_node(SegmentsVisual)
