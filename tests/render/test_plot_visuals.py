"""The small visuals plots draw their decorations and evaluation points with: segments one pixel
wide in their own colours whatever the visual drawn before left in GL's state, and round dots
sized in the canvas's pixels (twice as wide in an export at twice the size)."""

from __future__ import annotations

import numpy as np
import pytest
from vispy import scene

from gpuviz_app.render.scaled import render_scaled
from gpuviz_app.render.upload import HostUpload
from gpuviz_app.render.visuals.dots import Dots
from gpuviz_app.render.visuals.segments import Segments
from gpuviz_app.render.visuals.series import Series


@pytest.fixture
def canvas(egl_app):
    made = scene.SceneCanvas(size=(200, 100), app=egl_app, bgcolor="black", show=False)
    yield made
    made.close()


def test_segments_are_one_pixel_wide_in_their_own_colours(canvas):
    wide = Series(color="#0000ff", width=5.0, parent=canvas.scene)  # drawn first: leaves GL's width at 5
    wide.order = -1
    wide.write(np.array([[10, 90], [190, 90]], np.float32), HostUpload())
    lines = Segments(parent=canvas.scene)
    lines.set_data(pos=np.array([[50, 10], [50, 70], [120, 10], [120, 70]], np.float32),
                   color=np.array([[1, 0, 0, 1]] * 2 + [[0, 1, 0, 1]] * 2, np.float32))
    pixels = canvas.render(alpha=False).astype(int)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 50)
    green = (pixels[..., 1] > 200) & (pixels[..., 0] < 50)
    assert len(np.flatnonzero(red.any(axis=0))) == 1 and len(np.flatnonzero(green.any(axis=0))) == 1
    assert red.sum() >= 55 and green.sum() >= 55  # the whole segment, from y 10 to 70
    with pytest.raises(ValueError, match="positions but"):
        lines.set_data(pos=np.zeros((4, 2)), color=np.zeros((3, 4)))


def _dot_width(pixels: np.ndarray) -> int:
    return len(np.flatnonzero((pixels[..., 0] > 128).any(axis=0)))


def test_dots_are_round_and_sized_in_canvas_pixels(canvas):
    dots = Dots(parent=canvas.scene)
    dots.set_points(np.array([[40, 50], [140, 50]], np.float32), 8, "#ff0000")
    pixels = canvas.render(alpha=False)
    left = pixels[:, :90]
    assert 7 <= _dot_width(left) <= 9
    assert (left[50 - 3 : 50 + 3, 40 - 3 : 40 + 3, 0] > 200).all()  # filled
    assert left[50 - 4, 40 - 4, 0] < 100  # round: the square's corner is not
    assert (pixels[:, 90:, 0] > 128).any()  # the second dot
    twice = render_scaled(canvas, (400, 200), alpha=False)[:, :180]
    assert 15 <= _dot_width(twice) <= 17
    dots.set_points(np.zeros((0, 2), np.float32), 8, "#ff0000")
    assert (canvas.render(alpha=False)[..., 0] == 0).all()
