"""Output files: never replaced unasked, refused before any work, errors naming the user's file."""

import numpy as np
import pytest
from PIL import Image


def test_the_window_screenshot_keeps_an_existing_file_unless_forced(run_gpuviz, tmp_path):
    out = tmp_path / "p.png"
    out.write_bytes(b"precious")
    proc = run_gpuviz("--steps", "5", "--quit-when-done", "--screenshot", str(out), "--device", "cpu")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {out}: already exists (use --force to overwrite)"
    assert out.read_bytes() == b"precious"
    proc = run_gpuviz("--steps", "5", "--quit-when-done", "--screenshot", str(out), "--device", "cpu", "--force")
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).text["gpuviz:step"] == "5"


def test_a_jpg_screenshot_of_the_window_is_a_jpeg(run_gpuviz, tmp_path):
    out = tmp_path / "w.jpg"
    proc = run_gpuviz("--steps", "5", "--quit-when-done", "--screenshot", str(out), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    image = Image.open(out)
    assert image.format == "JPEG" and image.width >= 800
    assert np.asarray(image).std() > 5  # the window, not a blank picture


@pytest.mark.parametrize("name, sentence", [
    ("w.bmp", "unsupported image type '.bmp'; use .png, .jpg or .jpeg"),
    ("missing-folder-is-a-file/w.png", "cannot be written"),
])
def test_an_unwritable_window_screenshot_is_refused_before_the_window_opens(run_gpuviz, tmp_path, name,
                                                                            sentence):
    (tmp_path / "missing-folder-is-a-file").write_text("a file, not a folder")
    out = tmp_path / name
    proc = run_gpuviz("--steps", "5", "--quit-when-done", "--screenshot", str(out), display=False)
    assert proc.returncode == 2  # no display needed: refused before Qt starts
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {out}: ") and sentence in lines[0]


def test_record_refuses_the_same_file_as_video_and_screenshot(run_gpuviz, tmp_path):
    out = tmp_path / "same.gif"
    proc = run_gpuviz("record", "--steps", "5", "--out", str(out), "--screenshot", str(tmp_path / "." / "same.gif"),
                      display=False)
    assert proc.returncode == 2
    assert "given as two outputs" in proc.stderr and "step " not in proc.stderr  # before training
    assert not out.exists()


def test_record_writes_a_jpeg_screenshot_and_refuses_other_image_types(run_gpuviz, tmp_path):
    proc = run_gpuviz("record", "--steps", "3", "--screenshot", str(tmp_path / "m.bmp"), display=False)
    assert proc.returncode == 2 and "unsupported image type '.bmp'" in proc.stderr
    assert "step " not in proc.stderr
    out = tmp_path / "m.jpeg"
    proc = run_gpuviz("record", "--steps", "3", "--screenshot", str(out), display=False)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).format == "JPEG"


def test_record_refuses_an_unwritable_folder_before_training(run_gpuviz, tmp_path):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "v.mp4"
    proc = run_gpuviz("record", "--steps", "3", "--out", str(out), display=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"error: {out}: cannot be written") and "step " not in proc.stderr
