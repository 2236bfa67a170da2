"""Histograms over time as an image: x = step, y = value, colour = density.

Each time column has its own bin grid (its first edge and width), so the shader maps a
fragment's (step, value) to (column, bin) itself: two fixed-size R32F textures hold the
counts (columns x bins) and, per column, (first edge, bin width, 1 / largest count).
Colour is the sequential colormap of sqrt(count / column's largest count); empty bins
are transparent.
"""

from __future__ import annotations

import numpy as np
from vispy import gloo
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

from gpuviz_app.render.colormaps import SEQUENTIAL, glsl

_VERT = """
attribute vec2 a_unit;
uniform vec4 u_rect;
varying vec2 v_data;
void main() {
    v_data = mix(u_rect.xy, u_rect.zw, a_unit);
    gl_Position = $transform(vec4(v_data, 0.0, 1.0));
}
"""

_FRAG = glsl("sequential", SEQUENTIAL) + """
uniform sampler2D u_counts;
uniform sampler2D u_info;
uniform float u_x0;
uniform float u_stride;
uniform float u_columns;
uniform float u_capacity;
uniform float u_bins;
varying vec2 v_data;
void main() {
    float col = floor((v_data.x - u_x0) / u_stride);
    if (col < 0.0 || col >= u_columns) discard;
    float row = (col + 0.5) / u_capacity;
    float lo = texture2D(u_info, vec2(0.125, row)).r;
    float width = texture2D(u_info, vec2(0.375, row)).r;
    float inv_max = texture2D(u_info, vec2(0.625, row)).r;
    float b = floor((v_data.y - lo) / width);
    if (b < 0.0 || b >= u_bins) discard;
    float count = texture2D(u_counts, vec2((b + 0.5) / u_bins, row)).r;
    if (count <= 0.0) discard;
    gl_FragColor = vec4(sequential(0.12 + 0.88 * sqrt(count * inv_max)), 1.0);
}
"""


class DensityVisual(Visual):
    def __init__(self, capacity: int = 512, bins: int = 256) -> None:
        super().__init__(vcode=_VERT, fcode=_FRAG)
        self.capacity, self.bins = capacity, bins
        self.counts = gloo.Texture2D(shape=(capacity, bins, 1), format="luminance", internalformat="r32f",
                                     interpolation="nearest")
        self.info = gloo.Texture2D(shape=(capacity, 4, 1), format="luminance", internalformat="r32f",
                                   interpolation="nearest")
        p = self.shared_program
        p["a_unit"] = gloo.VertexBuffer(np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32))
        p["u_counts"], p["u_info"] = self.counts, self.info
        p["u_capacity"], p["u_bins"] = float(capacity), float(bins)
        p["u_columns"], p["u_x0"], p["u_stride"] = 0.0, 0.0, 1.0
        p["u_rect"] = (0.0, 0.0, 1.0, 1.0)
        self._draw_mode = "triangle_strip"
        self.set_gl_state("translucent", cull_face=False)
        self.columns = 0
        self.rect = (0.0, 0.0, 1.0, 1.0)

    def write(self, counts, info, x0: float, stride: float, x1: float, y0: float, y1: float, upload) -> None:
        """counts (n, bins) and info (n, >=3) float32 for columns 0..n-1; column c covers
        x in [x0 + c * stride, x0 + (c + 1) * stride), drawn up to x1; values in [y0, y1]."""
        n = int(counts.shape[0])
        if n:
            upload.write_texture(self.counts, counts, offset=(0, 0))
            upload.write_texture(self.info, info, offset=(0, 0))
        p = self.shared_program
        p["u_columns"], p["u_x0"], p["u_stride"] = float(n), float(x0), float(stride)
        self.rect = (float(x0), float(y0), float(x1), float(y1))
        p["u_rect"] = self.rect
        self.columns = n
        self.update()

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view):
        return None if self.columns else False

    def _compute_bounds(self, axis: int, view):
        if axis > 1 or not self.columns:
            return None
        r = self.rect
        return (r[0], r[2]) if axis == 0 else (r[1], r[3])


Density = create_visual_node(DensityVisual)
