import numpy as np
from PIL import Image

from gpuviz_app.render.colormaps import DIVERGING, SEQUENTIAL, apply


def share_near(pixels: np.ndarray, stops, tol: int = 6) -> float:
    """Fraction of pixels within `tol` of a colour on the colormap."""
    colours = np.round(apply(stops, np.linspace(0, 1, 128)) * 255).astype(int)
    rgb = pixels[..., :3].reshape(-1, 3).astype(int)
    near = np.abs(rgb[:, None, :] - colours[None]).max(-1).min(-1) <= tol
    return float(near.mean())


def test_record_the_weights_view_without_a_display(run_gpuviz, tmp_path):
    out = tmp_path / "w.png"
    proc = run_gpuviz("record", "--view", "weights", "--steps", "200", "--screenshot", str(out),
                      "--device", "cpu", display=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    image = Image.open(out)
    assert image.size == (960, 640)
    assert image.text["gpuviz:step"] == "200"
    pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500  # far from blank
    h, w = pixels.shape[:2]
    assert share_near(pixels[: h // 2, : w // 2], DIVERGING) > 0.15  # matrix heatmaps
    assert share_near(pixels[: h // 2, w // 2 :], SEQUENTIAL) > 0.15  # the distribution image
