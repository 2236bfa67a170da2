"""A loss surface drawn from a fixed-capacity height texture (R32F), shaded and contoured.

The texture holds raw losses; clipping, the log scale, colour and height are applied in the
shaders from a few uniforms, so a new grid is one texture write and a change of scale is
free. The vertex shader reads its height and its neighbours' (for the normal) from the
texture; the fragment shader draws contour lines at even steps of the colour scale. The
same visual draws the 3-D surface and, flattened, the 2-D contour map.
"""

from __future__ import annotations

import math

import numpy as np
from vispy import gloo
from vispy.color import get_colormap
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

from gpuviz_app.render.axes import ticks

CAPACITY = 101  # points per side, at most

# Shared by the surface and the path: raw loss -> 0..1 on the colour scale.
HEIGHT_GLSL = """
uniform float u_low;
uniform float u_clip;
uniform float u_log;
float shaped(float h) {
    h = min(h, u_clip);
    return u_log > 0.5 ? log(max(h, 1e-12)) : h;
}
float unit_height(float h) {
    float lo = shaped(u_low);
    float hi = shaped(u_clip);
    return clamp((shaped(h) - lo) / max(hi - lo, 1e-12), 0.0, 1.0);
}
"""

_VERT = HEIGHT_GLSL + """
uniform sampler2D u_height;
uniform float u_n;
uniform float u_cap;
uniform float u_zscale;
uniform float u_flat;
attribute vec2 a_grid;
varying float v_t;
varying float v_shade;

float t_at(vec2 ij) {
    ij = clamp(ij, vec2(0.0), vec2(u_n - 1.0));
    return unit_height(texture2D(u_height, (ij.yx + 0.5) / u_cap).r);
}

void main() {
    vec2 ij = floor(a_grid * (u_n - 1.0) + 0.5);
    float t = t_at(ij);
    v_t = t;
    float z = u_flat > 0.5 ? 0.0 : t * u_zscale;
    float dx = (t_at(ij + vec2(1.0, 0.0)) - t_at(ij - vec2(1.0, 0.0))) * u_zscale;
    float dy = (t_at(ij + vec2(0.0, 1.0)) - t_at(ij - vec2(0.0, 1.0))) * u_zscale;
    float step = 4.0 / (u_n - 1.0);
    vec3 normal = normalize(vec3(-dx / step, -dy / step, 1.0));
    vec3 light = normalize(vec3(-0.5, -0.4, 1.0));
    v_shade = u_flat > 0.5 ? 1.0 : 0.45 + 0.55 * abs(dot(normal, light));
    gl_Position = $transform(vec4(a_grid * 2.0 - 1.0, z, 1.0));
}
"""

_FRAG = """
uniform sampler2D u_cmap;
uniform float u_levels;
uniform float u_contours;
varying float v_t;
varying float v_shade;
void main() {
    vec3 color = texture2D(u_cmap, vec2(clamp(v_t, 0.002, 0.998), 0.5)).rgb * v_shade;
    if (u_contours > 0.5) {
        float f = v_t * u_levels;
        float w = max(fwidth(f), 1e-5);
        float line = 1.0 - clamp(abs(fract(f + 0.5) - 0.5) / w, 0.0, 1.0);
        line *= step(0.001, v_t) * step(v_t, 0.999);
        color = mix(color, vec3(0.05, 0.05, 0.08), 0.75 * line);
    }
    gl_FragColor = vec4(color, 1.0);
}
"""


def unit_height(loss, low: float, clip: float, log: bool) -> np.ndarray:
    """HEIGHT_GLSL's `unit_height` on the host: where a loss sits on the colour scale and the
    height axis (0..1), for tick labels and for checking what the shaders draw."""
    def shaped(h):
        h = np.minimum(np.asarray(h, np.float64), clip)
        return np.log(np.maximum(h, 1e-12)) if log else h

    lo, hi = shaped(low), shaped(clip)
    return np.clip((shaped(loss) - lo) / max(float(hi - lo), 1e-12), 0.0, 1.0)


def height_ticks(low: float, clip: float, log: bool, max_ticks: int = 5) -> list[tuple[float, str]]:
    """(unit height, label) of round losses between `low` and `clip` on the surface's scale."""
    if not (math.isfinite(low) and math.isfinite(clip)) or clip <= low or (log and low <= 0):
        return []
    lo, hi = (math.log10(low), math.log10(clip)) if log else (low, clip)
    out = []
    for value, label in ticks(lo, hi, max_ticks, log=log):
        loss = 10.0**value if log else value
        if low - 1e-12 <= loss <= clip * (1 + 1e-9):
            out.append((float(unit_height(loss, low, clip, log)), label))
    return out


def colormap_rgba(name: str = "viridis", size: int = 256) -> np.ndarray:
    """A (1, size, 4) RGBA8 row of the colour map (the colour texture)."""
    rgba = get_colormap(name).map(np.linspace(0.0, 1.0, size))
    return np.ascontiguousarray((np.clip(rgba, 0, 1) * 255).round().astype(np.uint8)[None])


def grid_vertices(n: int, capacity: int = CAPACITY) -> tuple[np.ndarray, np.ndarray]:
    """Vertex grid coordinates (capacity² x 2, float32) and triangle indices (uint32) for n x n;
    unused capacity holds zeros, so it draws degenerate triangles."""
    coords = np.zeros((capacity * capacity, 2), np.float32)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    coords[: n * n, 0] = (i / (n - 1)).ravel()
    coords[: n * n, 1] = (j / (n - 1)).ravel()
    indices = np.zeros(((capacity - 1) ** 2 * 6,), np.uint32)
    a = (i[:-1, :-1] * n + j[:-1, :-1]).ravel()
    quads = np.stack([a, a + n, a + 1, a + 1, a + n, a + n + 1], axis=1).ravel()
    indices[: len(quads)] = quads
    return coords, indices


class SurfaceVisual(Visual):
    def __init__(self, capacity: int = CAPACITY, cmap: str = "viridis") -> None:
        super().__init__(vcode=_VERT, fcode=_FRAG)
        self.capacity = capacity
        self.height = gloo.Texture2D(np.zeros((capacity, capacity, 1), np.float32), internalformat="r32f",
                                     interpolation="nearest")
        self.cmap = gloo.Texture2D(colormap_rgba(cmap), interpolation="linear")
        coords, indices = grid_vertices(2, capacity)
        self.vertices = gloo.VertexBuffer(coords)
        self._index_buffer = gloo.IndexBuffer(indices)
        self.shared_program["a_grid"] = self.vertices
        self.shared_program["u_height"] = self.height
        self.shared_program["u_cmap"] = self.cmap
        self.shared_program["u_cap"] = float(capacity)
        self._draw_mode = "triangles"
        self.set_gl_state("opaque", depth_test=True, cull_face=False)
        self.n = 0
        self.set_scale(low=0.0, clip=1.0, log=False)
        self.set_style(zscale=1.0, flat=False, contours=True, levels=12)

    def set_scale(self, low: float, clip: float, log: bool) -> None:
        for program in (self.shared_program,):
            program["u_low"] = float(low)
            program["u_clip"] = float(clip)
            program["u_log"] = 1.0 if log else 0.0
        self.update()

    def set_style(self, zscale: float, flat: bool, contours: bool, levels: int) -> None:
        p = self.shared_program
        p["u_zscale"] = float(zscale)
        p["u_flat"] = 1.0 if flat else 0.0
        p["u_contours"] = 1.0 if contours else 0.0
        p["u_levels"] = float(levels)
        self.update()

    def write(self, grid, upload) -> None:
        """Show an n x n grid of raw losses (float32, n <= capacity); the mesh changes only with n."""
        n = int(grid.shape[0])
        if n > self.capacity or n < 2:
            raise ValueError(f"a grid of {n} x {n} does not fit a surface of {self.capacity}")
        if n != self.n:
            coords, indices = grid_vertices(n, self.capacity)
            upload.write_buffer(self.vertices, coords)
            upload.write_buffer(self._index_buffer, indices)
            self.n = n
            self.shared_program["u_n"] = float(n)
        upload.write_texture(self.height, grid.reshape(n, n, 1), offset=(0, 0))
        self.update()

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view) -> bool | None:
        return False if self.n < 2 else None

    def _compute_bounds(self, axis: int, view):
        return (-1.0, 1.0) if axis < 2 else (0.0, 1.0)


Surface = create_visual_node(SurfaceVisual)
