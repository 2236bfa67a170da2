"""Coloured triangles or line segments in one fixed-capacity float32 buffer (x, y, r, g, b, a).

Unused vertices are written as transparent points at the origin, so they draw nothing.
"""

from __future__ import annotations

import numpy as np
from vispy import gloo
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

_VERT = """
attribute vec2 a_position;
attribute vec4 a_color;
varying vec4 v_color;
void main() {
    v_color = a_color;
    gl_Position = $transform(vec4(a_position, 0.0, 1.0));
}
"""

_FRAG = """
varying vec4 v_color;
void main() {
    if (v_color.a <= 0.0) discard;
    gl_FragColor = v_color;
}
"""


class MeshVisual(Visual):
    def __init__(self, capacity: int, mode: str = "triangles", width: float = 1.0) -> None:
        super().__init__(vcode=_VERT, fcode=_FRAG)
        self.capacity = capacity
        self.staging = np.zeros(capacity, [("a_position", np.float32, 2), ("a_color", np.float32, 4)])
        self._flat = self.staging.view(np.float32).reshape(capacity, 6)
        self.vertices = gloo.VertexBuffer(self.staging)
        self.shared_program.bind(self.vertices)
        self._draw_mode = mode
        self.set_gl_state("translucent", cull_face=False, line_width=width)
        self.count = 0
        self._bounds = None

    def write(self, vertices: np.ndarray, upload) -> None:
        """vertices (n, 6) float32: x, y, r, g, b, a; n at most `capacity`."""
        n = min(len(vertices), self.capacity)
        self._flat[:n] = vertices[:n]
        self._flat[n:] = 0
        self.count = n
        if n:
            xy = vertices[:n, :2]
            self._bounds = ((float(xy[:, 0].min()), float(xy[:, 0].max())),
                            (float(xy[:, 1].min()), float(xy[:, 1].max())))
        upload.write_buffer(self.vertices, self.staging)
        self.update()

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view):
        return None if self.count else False

    def _compute_bounds(self, axis: int, view):
        if self._bounds is None or axis > 1:
            return None
        return self._bounds[axis]


Mesh = create_visual_node(MeshVisual)
