"""An image drawn from one fixed-size texture: R32F through a diverging colormap, or RGBA8.

The texture is allocated once at its final size; updates write into it through the
upload path. One texel is one unit in the visual's coordinates: texel (row i, column j)
covers [j, j + 1) x [i, i + 1).
"""

from __future__ import annotations

import numpy as np
from vispy import gloo
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

from gpuviz_app.render.colormaps import DIVERGING, glsl

_VERT = """
attribute vec2 a_position;
attribute vec2 a_texcoord;
varying vec2 v_texcoord;
void main() {
    v_texcoord = a_texcoord;
    gl_Position = $transform(vec4(a_position, 0.0, 1.0));
}
"""

_FRAG_SCALAR = glsl("diverging", DIVERGING) + """
uniform sampler2D u_texture;
uniform float u_vmax;
varying vec2 v_texcoord;
void main() {
    float v = texture2D(u_texture, v_texcoord).r;
    gl_FragColor = vec4(diverging(v / (2.0 * u_vmax) + 0.5), 1.0);
}
"""

_FRAG_RGBA = """
uniform sampler2D u_texture;
varying vec2 v_texcoord;
void main() {
    vec4 c = texture2D(u_texture, v_texcoord);
    if (c.a <= 0.0) discard;
    gl_FragColor = c;
}
"""


class TextureImageVisual(Visual):
    """`kind` "diverging" (float32 values, range [-vmax, vmax]) or "rgba" (uint8 RGBA)."""

    def __init__(self, shape: tuple[int, int], kind: str = "diverging") -> None:
        super().__init__(vcode=_VERT, fcode=_FRAG_SCALAR if kind == "diverging" else _FRAG_RGBA)
        h, w = shape
        self.shape, self.kind = (h, w), kind
        if kind == "diverging":
            self.texture = gloo.Texture2D(shape=(h, w, 1), format="luminance", internalformat="r32f",
                                          interpolation="nearest")
            self.shared_program["u_vmax"] = 1.0
        else:
            self.texture = gloo.Texture2D(shape=(h, w, 4), format="rgba", internalformat="rgba8",
                                          interpolation="nearest")
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float32)
        self.shared_program["a_position"] = gloo.VertexBuffer(corners)
        self.shared_program["a_texcoord"] = gloo.VertexBuffer(np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32))
        self.shared_program["u_texture"] = self.texture
        self._draw_mode = "triangle_strip"
        self.set_gl_state("translucent", cull_face=False)
        self.vmax = 1.0
        self.written = False

    def write(self, data, upload) -> None:
        """Replace the whole image: float32 (h, w) or uint8 (h, w, 4), the texture's shape."""
        upload.write_texture(self.texture, data)
        self.written = True
        self.update()

    def set_range(self, vmax: float) -> None:
        self.vmax = float(vmax) if vmax > 0 else 1.0
        self.shared_program["u_vmax"] = self.vmax
        self.update()

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view):
        return None if self.written else False

    def _compute_bounds(self, axis: int, view):
        if axis > 1:
            return None
        return (0, self.shape[1]) if axis == 0 else (0, self.shape[0])


TextureImage = create_visual_node(TextureImageVisual)
