"""Screenshots at 2x/4x are real renders of the same layout, and transparency is exact."""

import numpy as np
import pytest

from gpuviz_app.export.frames import background_rgba, compose, render_view
from gpuviz_app.render.views import make_view

TRAIN_RGB = np.array([0x88, 0xC0, 0xD0])


def curve_rows(pixels: np.ndarray, tol: int = 40) -> np.ndarray:
    """Mean image row of the train-loss colour in each column (NaN where absent)."""
    hits = np.all(np.abs(pixels[..., :3].astype(int) - TRAIN_RGB) < tol, axis=-1)
    rows = np.arange(hits.shape[0])[:, None]
    with np.errstate(invalid="ignore"):
        return (hits * rows).sum(0) / hits.sum(0)


def downsample(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter `pixels` by an integer factor (float result), e.g. a 2x render back to 1x."""
    h, w = (pixels.shape[0] // factor) * factor, (pixels.shape[1] // factor) * factor
    p = pixels[:h, :w].astype(np.float32)
    return p.reshape(h // factor, factor, w // factor, factor, -1).mean(axis=(1, 3))


def blurred_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two grey images after a 3x3 box blur (tolerates anti-aliasing, not shifts)."""

    def prep(x):
        g = x[..., :3].astype(np.float64).mean(-1)
        g = sum(np.roll(np.roll(g, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
        return g - g.mean()

    a, b = prep(a), prep(b)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


@pytest.fixture
def metrics_canvas(view_canvas, trained_snapshot):
    canvas = view_canvas([make_view("metrics")], size=(640, 400))
    canvas.push(trained_snapshot)
    return canvas


def test_a_1x_render_is_the_canvas_picture(metrics_canvas):
    assert np.array_equal(render_view(metrics_canvas), metrics_canvas.canvas.render())


@pytest.mark.parametrize("scale", [2, 4])
def test_a_scaled_render_is_exactly_larger_and_shows_the_same_layout(metrics_canvas, scale):
    one = render_view(metrics_canvas)
    big = render_view(metrics_canvas, scale=scale)
    assert big.shape == (400 * scale, 640 * scale, 4)
    # Not an upscaled copy: a pixel-replicated image has every pixel repeated scale x scale times.
    assert not np.array_equal(big[::scale, ::scale], big[1::scale, 1::scale])
    # Same layout: the loss curve runs through the same places (in 1x pixels).
    rows_one = curve_rows(one)
    rows_big = curve_rows(big) / scale
    rows_big_at_1x = np.array([np.nanmean(rows_big[c * scale:(c + 1) * scale]) if np.any(
        ~np.isnan(rows_big[c * scale:(c + 1) * scale])) else np.nan for c in range(640)])
    both = ~np.isnan(rows_one) & ~np.isnan(rows_big_at_1x)
    assert both.sum() > 300, "the loss curve is missing at one of the scales"
    assert np.nanmedian(np.abs(rows_one[both] - rows_big_at_1x[both])) < 1.0
    if scale == 2:  # and, box-filtered back to 1x, the whole picture matches the 1x render
        down = downsample(big, 2)
        match = blurred_correlation(one, down)
        shifted = blurred_correlation(one, np.roll(one, 2, axis=1))
        assert match > 0.9 and match > shifted


def test_a_transparent_render_is_the_picture_minus_its_background(metrics_canvas):
    opaque = render_view(metrics_canvas).astype(np.float64)
    clear = render_view(metrics_canvas, transparent=True).astype(np.float64)
    assert clear[2, 2, 3] == 0  # background is see-through
    alpha = clear[..., 3:] / 255
    assert (alpha > 0.99).mean() > 0.005  # lines, text and curves are opaque
    curve = np.all(np.abs(clear[..., :3] - TRAIN_RGB) < 20, axis=-1) & (clear[..., 3] == 255)
    assert curve.sum() > 300
    # Laid over the background colour again, it is the opaque picture.
    bg = background_rgba()[:3].astype(np.float64)
    over = clear[..., :3] * alpha + bg * (1 - alpha)
    assert np.abs(over - opaque[..., :3]).max() <= 3


def test_compose_places_parts_and_fills_the_rest():
    a = np.full((10, 20, 4), 200, np.uint8)
    b = np.full((5, 5, 3), 50, np.uint8)
    out = compose([(a, (0, 0)), (b, (18, 8))], (25, 12))
    assert out.shape == (12, 25, 4)
    assert (out[:10, :18] == 200).all()
    assert (out[8:12, 18:23, :3] == 50).all() and (out[8:12, 18:23, 3] == 255).all()  # clipped at the edge
    assert (out[11, 0] == background_rgba()).all()
    assert (compose([], (4, 4), transparent=True) == 0).all()
