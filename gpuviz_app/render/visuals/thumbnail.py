"""A fixed-size RGBA8 texture on a square, for showing one input sample (the picked point)."""

from __future__ import annotations

import math

import numpy as np
from vispy import gloo
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual
from vispy.visuals.transforms import STTransform

_VERT = """
attribute vec2 a_position;
varying vec2 v_texcoord;
void main() {
    v_texcoord = a_position;
    gl_Position = $transform(vec4(a_position, 0.0, 1.0));
}
"""

_FRAG = """
uniform sampler2D u_texture;
varying vec2 v_texcoord;
void main() {
    gl_FragColor = texture2D(u_texture, v_texcoord);
}
"""


def _grey_to_rgb(values: np.ndarray) -> np.ndarray:
    return np.repeat(values[..., None], 3, axis=-1)


def thumbnail_rgba(sample: np.ndarray, kind: str, size: int) -> np.ndarray:
    """`sample` drawn into a (size, size, 4) uint8 image: an image scaled to fit (nearest
    neighbour, centred), or a feature vector as a grey square grid, row by row."""
    sample = np.asarray(sample, np.float32)
    if kind == "images" and sample.ndim == 3:
        c = sample.shape[0]
        rgb = np.moveaxis(sample[:3], 0, -1) if c >= 3 else _grey_to_rgb(sample[0])
        rgb = np.clip(rgb, 0.0, 1.0)
    else:
        flat = sample.reshape(-1)
        side = max(1, math.ceil(math.sqrt(len(flat))))
        grid = np.zeros(side * side, np.float32)
        lo, hi = (float(flat.min()), float(flat.max())) if len(flat) else (0.0, 1.0)
        grid[: len(flat)] = (flat - lo) / (hi - lo) if hi > lo else 0.5
        rgb = _grey_to_rgb(grid.reshape(side, side))
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    out_h, out_w = max(1, int(h * scale)), max(1, int(w * scale))
    rows = np.minimum((np.arange(out_h) / scale).astype(int), h - 1)
    cols = np.minimum((np.arange(out_w) / scale).astype(int), w - 1)
    image = np.zeros((size, size, 4), np.uint8)
    top, left = (size - out_h) // 2, (size - out_w) // 2
    image[top : top + out_h, left : left + out_w, :3] = (rgb[rows][:, cols] * 255 + 0.5).astype(np.uint8)
    image[top : top + out_h, left : left + out_w, 3] = 255
    return image


class ThumbnailVisual(Visual):
    """A `size` x `size` texture drawn as a square of `size` pixels at `pos` (parent pixels)."""

    def __init__(self, size: int = 64) -> None:
        super().__init__(vcode=_VERT, fcode=_FRAG)
        self.size = size
        quad = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32)
        self.shared_program["a_position"] = gloo.VertexBuffer(quad)
        self.texture = gloo.Texture2D(np.zeros((size, size, 4), np.uint8), interpolation="nearest")
        self.shared_program["u_texture"] = self.texture
        self._draw_mode = "triangle_strip"
        self.set_gl_state("translucent", depth_test=False)
        self.shown = False

    def place(self, x: float, y: float, pixels: float | None = None) -> None:
        side = float(pixels or self.size)
        self.transform = STTransform(scale=(side, side), translate=(x, y))

    def write(self, rgba: np.ndarray, upload) -> None:
        upload.write_texture(self.texture, rgba)
        self.shown = True
        self.update()

    def clear(self) -> None:
        self.shown = False
        self.update()

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view) -> bool | None:
        return None if self.shown else False

    def _compute_bounds(self, axis: int, view):
        return (0, 1) if axis < 2 else None


Thumbnail = create_visual_node(ThumbnailVisual)
