"""A line strip over a fixed-capacity float32 vertex buffer.

The buffer is allocated once per capacity; updates write into it through the upload
path. Unused vertices repeat the last point, so they draw nothing visible.
"""

from __future__ import annotations

import numpy as np
from vispy import gloo
from vispy.color import Color
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

_VERT = """
attribute vec2 a_position;
void main() {
    gl_Position = $transform(vec4(a_position, 0.0, 1.0));
}
"""

_FRAG = """
uniform vec4 u_color;
void main() {
    gl_FragColor = u_color;
}
"""


class SeriesVisual(Visual):
    def __init__(self, capacity: int = 8192, color: str = "white", width: float = 1.5) -> None:
        super().__init__(vcode=_VERT, fcode=_FRAG)
        self.capacity = capacity
        self.positions = gloo.VertexBuffer(np.zeros((capacity, 2), np.float32))
        self.shared_program["a_position"] = self.positions
        self.shared_program["u_color"] = Color(color).rgba
        self._draw_mode = "line_strip"
        self.set_gl_state("translucent", line_width=width)
        self._bounds: tuple[tuple[float, float], tuple[float, float]] | None = None
        self._staging = np.zeros((capacity, 2), np.float32)
        self.count = 0

    def set_color(self, color: str) -> None:
        self.shared_program["u_color"] = Color(color).rgba
        self.update()

    def write(self, xy: np.ndarray, upload) -> None:
        """Draw through the points `xy` (n x 2); n may be at most `capacity`."""
        n = min(len(xy), self.capacity)
        staging = self._staging
        if n:
            staging[:n] = xy[:n]
            staging[n:] = staging[n - 1]
            self._bounds = ((float(xy[:n, 0].min()), float(xy[:n, 0].max())),
                            (float(xy[:n, 1].min()), float(xy[:n, 1].max())))
        else:
            staging[:] = 0
            self._bounds = None
        self.count = n
        upload.write_buffer(self.positions, staging)
        self.update()

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view) -> bool | None:
        if self.count < 2:
            return False
        return None

    def _compute_bounds(self, axis: int, view):
        if self._bounds is None or axis > 1:
            return None
        return self._bounds[axis]


Series = create_visual_node(SeriesVisual)
