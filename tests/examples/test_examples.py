"""Each example trains under headless `gpuviz run` (checked on the picture) and alone with plain python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
NAMES = {"mlp_regression": "mlp-regression", "residual_cnn": "residual-cnn", "tiny_transformer": "tiny-transformer",
         "custom_loss": "custom-loss"}
BACKGROUND = np.array([22, 25, 30])  # the views' background colour, about


def gpuviz(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", "gpuviz_app", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)


def drawn_fraction(pixels: np.ndarray) -> float:
    """Share of pixels that are neither background nor grey (text and grid lines are grey)."""
    rgb = pixels[..., :3].astype(np.int32)
    coloured = rgb.max(axis=-1) - rgb.min(axis=-1) > 40
    return float((coloured & (np.abs(rgb - BACKGROUND).sum(axis=-1) > 60)).mean())


def screenshot(tmp_path: Path, example: str, view: str) -> tuple[np.ndarray, Image.Image]:
    out = tmp_path / f"{example}-{view}.png"
    proc = gpuviz("run", "--steps", "30", "--every", "10", "--view", view, "--screenshot", str(out),
                  str(EXAMPLES / f"{example}.py"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ran " in proc.stderr and " for 30 steps" in proc.stderr
    image = Image.open(out)
    return np.asarray(image.convert("RGB")), image


@pytest.mark.parametrize("example", sorted(NAMES))
def test_each_example_shows_its_layers_in_the_weights_view(tmp_path, example):
    pixels, image = screenshot(tmp_path, example, "weights")
    assert image.text.get("gpuviz:model") == NAMES[example]  # the script's own model, not a built-in one
    # layer matrices, filters and histograms fill much of the picture; an empty view is background and text
    assert drawn_fraction(pixels) > 0.05
    assert len(np.unique(pixels.reshape(-1, 3) // 16, axis=0)) > 100  # an empty view has about 40


def test_the_regression_example_shows_its_embedding_and_loss_surface(tmp_path):
    pixels, _ = screenshot(tmp_path, "mlp_regression", "embedding")
    rgb = pixels.astype(np.int32)
    points = (np.abs(rgb - BACKGROUND).sum(axis=-1) > 60) & (rgb.max(axis=-1) - rgb.min(axis=-1) > 40)
    assert points[40:].mean() > 0.003  # hundreds of points drawn below the title line
    # coloured by target value: both dark (low) and bright (high) ends of the ramp appear
    ys, xs = np.nonzero(points[40:, :600])
    brightness = rgb[40:, :600][ys, xs].sum(axis=-1)
    assert brightness.min() < 300 and brightness.max() > 450
    pixels, _ = screenshot(tmp_path, "mlp_regression", "landscape")
    assert drawn_fraction(pixels[40:]) > 0.05  # the surface, coloured by loss


def test_a_video_has_one_frame_at_step_0_every_k_steps_and_the_last(tmp_path):
    import av

    video = tmp_path / "run.mp4"
    proc = gpuviz("run", "--steps", "12", "--every", "5", "--view", "metrics", "--out", str(video),
                  str(EXAMPLES / "custom_loss.py"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with av.open(str(video)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 4  # steps 0, 5, 10 and 12
    assert not np.array_equal(frames[1], frames[-1])  # the loss curve grows


def test_a_script_that_raises_exits_1_with_one_line_and_its_traceback(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("import torch, gpuviz_app as gv\nviz = gv.attach(torch.nn.Linear(2, 1), sample=torch.ones(3, 2))\n"
                      "viz.step(loss=1.0)\nraise RuntimeError('out of data')\n")
    out = tmp_path / "x.png"
    video = tmp_path / "x.mp4"
    proc = gpuviz("run", "--screenshot", str(out), "--out", str(video), "--every", "1", str(script))
    assert proc.returncode == 1
    assert f"error: {script} raised RuntimeError: out of data" in proc.stderr
    assert "Traceback" in proc.stderr and "line 4" in proc.stderr
    assert not out.exists() and not video.exists() and not list(tmp_path.glob("*.part*"))


def test_run_refuses_a_missing_script_and_an_existing_output_in_one_line(tmp_path):
    proc = gpuviz("run", "--screenshot", str(tmp_path / "x.png"), str(tmp_path / "nope.py"))
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {tmp_path / 'nope.py'}: no such file"
    existing = tmp_path / "x.png"
    existing.write_bytes(b"mine")
    proc = gpuviz("run", "--screenshot", str(existing), str(EXAMPLES / "custom_loss.py"))
    assert proc.returncode == 2 and "already exists" in proc.stderr and existing.read_bytes() == b"mine"


@pytest.mark.parametrize("example", sorted(NAMES))
def test_each_example_runs_without_gpuviz_around_it(example):
    proc = subprocess.run([sys.executable, str(EXAMPLES / f"{example}.py"), "--steps", "5"], capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no gpuviz is listening" in proc.stderr


@pytest.mark.parametrize("example", ["custom_loss", "tiny_transformer"])  # the other two: tests/sources/test_remote.py
def test_each_example_streams_its_run_to_a_listening_window_in_another_process(example):
    import shutil
    import tempfile

    from gpuviz_app.sources.remote import Listener

    folder = tempfile.mkdtemp(prefix="gv")  # short: a Unix socket path has a length limit
    listener = Listener(f"ipc://{folder}/w.sock")
    try:
        env = {**os.environ, "GPUVIZ_ADDRESS": listener.address, "GPUVIZ_LAUNCH": "0", "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, str(EXAMPLES / f"{example}.py"), "--steps", "12"], env=env,
                              capture_output=True, text=True, timeout=600, cwd=REPO)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert listener.wait_for(lambda l: any(r.finished for r in l.runs()), 120)
        (run,) = listener.runs()
        assert run.info.script == f"{example}.py" and run.info.name == NAMES[example]
        last = run.latest
        assert last.finished and last.step == 12 and run.history.total("train_loss") == 12
        weights = last.parts["weights"]
        assert weights.layers and np.isfinite(weights.counts).all() and weights.counts.sum() > 0
        assert np.isfinite(last.parts["embedding"].positions).all()
    finally:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)
