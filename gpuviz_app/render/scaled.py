"""Rendering a SceneCanvas offscreen at another resolution than its own, laid out the same.

VisPy's `SceneCanvas.render(size=...)` maps the scene onto the region of the canvas's
size rather than the whole framebuffer (as of VisPy 0.14-0.17 the FBO transform uses the
canvas size for both ends), so a 2x render comes out as a 1x picture in one corner.
Here the framebuffer transform is set to the real FBO size after pushing it.
"""

from __future__ import annotations

import numpy as np
from vispy import gloo


def render_scaled(canvas, size: tuple[int, int], bgcolor=None, alpha: bool = True) -> np.ndarray:
    """RGBA (or RGB) pixels of `canvas`'s scene drawn into a (w, h) = `size` framebuffer."""
    w, h = int(size[0]), int(size[1])
    canvas.set_current()
    fbo = gloo.FrameBuffer(color=gloo.RenderBuffer((h, w)), depth=gloo.RenderBuffer((h, w)))
    canvas.push_fbo(fbo, (0, 0), canvas.size)
    try:
        pw, ph = canvas.physical_size
        canvas.transforms.configure(viewport=(0, 0, w, h), fbo_size=(w, h), fbo_rect=(0, 0, pw, ph))
        canvas._draw_scene(bgcolor=bgcolor)
        pixels = fbo.read()
    finally:
        canvas.pop_fbo()
    return pixels if alpha else pixels[..., :3]
