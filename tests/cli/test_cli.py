import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from gpuviz_app import __version__

TRAIN_RGB = np.array([0x88, 0xC0, 0xD0])


def curve_rows(pixels: np.ndarray, color=TRAIN_RGB, tol: int = 30):
    """Row index of the train-loss colour per column (NaN where absent)."""
    hits = np.all(np.abs(pixels[..., :3].astype(int) - color) < tol, axis=-1)
    rows = np.arange(hits.shape[0])[:, None]
    with np.errstate(invalid="ignore"):
        mean = (hits * rows).sum(0) / hits.sum(0)
    return mean


def assert_falling_curve(pixels: np.ndarray) -> None:
    rows = curve_rows(pixels[: pixels.shape[0] // 2])  # the loss plot is the upper half
    cols = np.flatnonzero(~np.isnan(rows))
    assert len(cols) > 100, "no loss curve found"
    first, last = rows[cols[: len(cols) // 10]].mean(), rows[cols[-len(cols) // 10 :]].mean()
    assert last > first + 20, "the loss curve does not fall (image rows grow downwards)"


def test_version(run_gpuviz):
    proc = run_gpuviz("--version", display=False)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"gpuviz {__version__}"


def test_scripted_run_writes_a_screenshot_of_the_window(run_gpuviz, tmp_path):
    out = tmp_path / "x.png"
    proc = run_gpuviz("--steps", "200", "--quit-when-done", "--screenshot", str(out), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    image = Image.open(out)
    assert image.width >= 800 and image.height >= 500
    assert image.text["gpuviz:step"] == "200"
    # the metrics panel is the window's left part; docked views (with text of their own) sit right of it
    assert_falling_curve(np.asarray(image.convert("RGB"))[:, : image.width // 4])


def test_record_works_without_a_display(run_gpuviz, tmp_path):
    out = tmp_path / "m.png"
    proc = run_gpuviz("record", "--view", "metrics", "--steps", "200", "--screenshot", str(out), display=False)
    assert proc.returncode == 0, proc.stderr
    image = Image.open(out)
    assert image.size == (900, 560)
    assert image.text["gpuviz:step"] == "200"
    assert float(image.text["gpuviz:train_loss"]) < 1.0
    assert_falling_curve(np.asarray(image.convert("RGB")))
    assert "step 200/200" in proc.stderr


def test_record_refuses_a_bad_dataset_with_one_line(run_gpuviz, tmp_path):
    bad = tmp_path / "nothing.npz"
    bad.write_bytes(b"\x00" * 10)
    proc = run_gpuviz("record", str(bad), "--steps", "5", "--screenshot", str(tmp_path / "o.png"), display=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"error: {bad}:")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_record_needs_an_output(run_gpuviz):
    proc = run_gpuviz("record", "--steps", "5", display=False)
    assert proc.returncode == 2 and "--out" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_training_exits_cleanly(tmp_path, sig):
    env = dict(os.environ, PYTHONUNBUFFERED="1", XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "gpuviz_app", "--device", "cpu"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6)  # window up, torch loaded, training under way
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_record_the_landscape_without_a_display(run_gpuviz, tmp_path):
    out = tmp_path / "l.png"
    proc = run_gpuviz("record", "--view", "landscape", "--steps", "200", "--screenshot", str(out), "--device", "cpu",
                      display=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    image = Image.open(out)
    assert image.size == (900, 640)
    assert image.text["gpuviz:step"] == "200"
    pixels = np.asarray(image.convert("RGB")).astype(int)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500  # a shaded, coloured surface
    marker = np.all(np.abs(pixels - np.array([0xFF, 0x6B, 0x4A])) < 40, axis=-1)
    assert marker.sum() > 20  # the current point on the path


def test_views_option_names_known_views_only():
    from gpuviz_app.cli import launch_options

    assert launch_options(["--views", "all"]).views == ("metrics", "weights", "embedding", "landscape")
    assert launch_options(["--views", "embedding, metrics"]).views == ("embedding", "metrics")
    with pytest.raises(SystemExit):
        launch_options(["--views", "weights,loss"])


def test_launch_options_carry_only_the_training_settings_given():
    from gpuviz_app.cli import launch_options
    from gpuviz_app.ui.launch_options import LaunchOptions

    options = launch_options(["d.npz", "--lr", "0.01", "--batch-size", "32", "--device", "cpu", "--steps", "7",
                              "--quit-when-done", "--screenshot", "w.png"])
    assert options == LaunchOptions(path="d.npz", device="cpu", steps=7, quit_when_done=True,
                                    screenshot="w.png", train_changes={"lr": 0.01, "batch_size": 32},
                                    listen="")  # a window from the command line listens at the default address
    assert launch_options(["--no-listen"]).listen is None
    assert launch_options(["--listen", "tcp://127.0.0.1:5000"]).listen == "tcp://127.0.0.1:5000"
    assert launch_options([]).train_changes == {}
    assert launch_options(["--model", "cnn", "--optimizer", "sgd", "--seed", "3"]).train_changes == {
        "model": "cnn", "optimizer": "sgd", "seed": 3}


def test_a_screenshot_of_the_window_needs_quit_when_done(capsys):
    from gpuviz_app.cli import launch_options

    with pytest.raises(SystemExit) as exited:
        launch_options(["--screenshot", "w.png"])
    assert exited.value.code == 2
    assert "--screenshot needs --quit-when-done" in capsys.readouterr().err


def test_record_options_hold_the_parsed_values():
    from gpuviz_app.cli import record_options
    from gpuviz_app.export.record_options import RecordOptions

    options = record_options(["d.csv", "--view", "dashboard", "--steps", "40", "--out", "v.webm", "--size",
                              "320x200", "--fps", "12", "--every", "4", "--scale", "2", "--force", "--seed", "5"])
    assert options == RecordOptions(steps=40, view="dashboard", path="d.csv", out="v.webm", size=(320, 200),
                                    fps=12.0, every=4, scale=2.0, force=True, train_changes={"seed": 5})


@pytest.mark.parametrize("argv, sentence", [
    (["--size", "12x"], "--size expects WxH, like 1280x720, not '12x'"),
    (["--size", "8x8"], "--size 8x8 is too small: a view needs at least 128x128 pixels to show its plot"),
    (["--size", "17x17"], "--size 17x17 is too small: a view needs at least 128x128 pixels to show its plot"),
    (["--size", "640x100"], "--size 640x100 is too small: a view needs at least 128x128 pixels"),
    (["--size", "20000x200"], "--size 20000x200 is outside 128..16384 pixels"),
    (["--every", "0"], "--every must be >= 1"),
    (["--steps", "-1"], "--steps must be >= 0"),
    (["--view", "loss"], "argument --view: invalid choice: 'loss'"),
])
def test_record_refuses_bad_options_with_a_usage_error(capsys, argv, sentence):
    from gpuviz_app.cli import record_options

    with pytest.raises(SystemExit) as exited:
        record_options(["--steps", "5", "--screenshot", "s.png", *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: gpuviz record") and f"gpuviz record: error: {sentence}" in err
    assert "Traceback" not in err

