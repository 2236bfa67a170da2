"""Pixels of views: re-rendered at a scale (screenshots), read back (video), composed (dashboard)."""

from __future__ import annotations

from typing import Iterable

import numpy as np
from vispy.color import Color

from gpuviz_app.render.canvas import ViewCanvas
from gpuviz_app.render.plot import BACKGROUND
from gpuviz_app.render.scaled import render_scaled

SCALES = (1, 2, 4)


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    w, h = size
    return max(1, int(round(w * scale))), max(1, int(round(h * scale)))


def render_view(canvas: ViewCanvas, scale: float = 1.0, transparent: bool = False,
                size: tuple[int, int] | None = None) -> np.ndarray:
    """RGBA pixels of `canvas` drawn offscreen at `scale` times its size (or at `size`).

    The scene is laid out at the canvas's size and rasterised at the larger size, so text
    and lines are sharp, not upscaled. `transparent` replaces the background by alpha 0:
    the scene is drawn over black and over white and the alpha of each pixel recovered
    from the difference, which is right whatever blending each visual uses (VisPy's
    translucent lines keep the destination's alpha, so a transparent clear alone loses them).
    """
    target = size or scaled_size(canvas.canvas.size, scale)
    if not transparent:
        return render_scaled(canvas.canvas, target)
    on_black = render_scaled(canvas.canvas, target, bgcolor=(0.0, 0.0, 0.0, 1.0))[..., :3].astype(np.float32)
    on_white = render_scaled(canvas.canvas, target, bgcolor=(1.0, 1.0, 1.0, 1.0))[..., :3].astype(np.float32)
    alpha = np.clip(255.0 - (on_white - on_black).max(axis=2), 0.0, 255.0)
    out = np.empty(on_black.shape[:2] + (4,), np.uint8)
    with np.errstate(divide="ignore", invalid="ignore"):
        color = np.where(alpha[..., None] > 0, on_black * 255.0 / alpha[..., None], 0.0)
    out[..., :3] = np.clip(np.rint(color), 0, 255)
    out[..., 3] = np.rint(alpha)
    return out


def read_back(canvas: ViewCanvas) -> np.ndarray:
    """RGBA pixels of the frame `canvas` last drew on screen (no re-rendering).

    A Qt canvas keeps its last frame in its framebuffer object; making the context
    current binds it. Costs a `glReadPixels` (about a millisecond at 1280x720).
    """
    from vispy.gloo import gl

    vc = canvas.canvas
    vc.set_current()
    vc.context.flush_commands()
    w, h = vc.physical_size
    gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
    data = gl.glReadPixels(0, 0, w, h, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE)
    return np.frombuffer(data, np.uint8).reshape(h, w, 4)[::-1]


def background_rgba(transparent: bool = False) -> np.ndarray:
    if transparent:
        return np.zeros(4, np.uint8)
    return np.array([int(round(c * 255)) for c in Color(BACKGROUND).rgba], np.uint8)


def compose(parts: Iterable[tuple[np.ndarray, tuple[int, int]]], size: tuple[int, int],
            transparent: bool = False) -> np.ndarray:
    """One RGBA image of `size` (w, h) with each (pixels, (x, y)) pasted at its place."""
    w, h = size
    out = np.empty((h, w, 4), np.uint8)
    out[...] = background_rgba(transparent)
    for pixels, (x, y) in parts:
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + pixels.shape[1], w), min(y + pixels.shape[0], h)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1, : pixels.shape[2]] = pixels[y0 - y : y1 - y, x0 - x : x1 - x]
            if pixels.shape[2] == 3:
                out[y0:y1, x0:x1, 3] = 255
    return out
