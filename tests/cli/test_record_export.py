"""`gpuviz record` writes videos, screenshots and CSV with no display, atomically."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image

from tests.export.metrics_csv_reader import read_metrics_csv
from tests.export.decode import assert_consecutive_frames_differ, decode_video, part_files


@pytest.mark.parametrize("ext,size", [("mp4", (322, 202)), ("webm", (322, 202)), ("gif", (321, 201))])
def test_record_writes_a_video_with_one_frame_every_k_steps(run_gpuviz, tmp_path, ext, size):
    out = tmp_path / f"run.{ext}"
    proc = run_gpuviz("record", "--view", "metrics", "--steps", "45", "--every", "10", "--size", "321x201",
                      "--fps", "12", "--out", str(out), "--device", "cpu", display=False)
    assert proc.returncode == 0, proc.stderr
    frames, times, _ = decode_video(out)
    assert len(frames) == 6  # steps 0, 10, 20, 30, 40 and 45: ceil(45 / 10) + 1
    assert {f.shape for f in frames} == {(size[1], size[0], 3)}  # MP4/WebM pad odd sizes to even
    assert_consecutive_frames_differ(frames)  # training moves the curves
    assert times[-1] == pytest.approx(5 / 12, abs=0.011)
    assert "step 45/45" in proc.stderr
    assert part_files(tmp_path) == []


def test_scale_renders_video_and_screenshot_larger(run_gpuviz, tmp_path):
    out, png, csv = tmp_path / "s.mp4", tmp_path / "s.png", tmp_path / "m.csv"
    proc = run_gpuviz("record", "--steps", "30", "--every", "15", "--size", "300x200", "--scale", "2",
                      "--out", str(out), "--screenshot", str(png), "--csv", str(csv), "--device", "cpu",
                      display=False)
    assert proc.returncode == 0, proc.stderr
    frames, _, _ = decode_video(out)
    assert len(frames) == 3 and frames[0].shape == (400, 600, 3)
    image = Image.open(png)
    assert image.size == (600, 400)
    assert image.text["gpuviz:step"] == "30"
    history = read_metrics_csv(csv)
    assert history["train_loss"]["count"].sum() == 30
    assert history["train_loss"]["last_step"][-1] == 30  # the loss of step k is logged at k (1-based)
    assert float(image.text["gpuviz:train_loss"]) == pytest.approx(history["train_loss"]["mean"][-1], rel=1e-5)


def test_existing_outputs_are_kept_unless_forced(run_gpuviz, tmp_path):
    out = tmp_path / "v.mp4"
    out.write_bytes(b"precious")
    proc = run_gpuviz("record", "--steps", "5", "--out", str(out), display=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {out}: already exists (use --force to overwrite)"
    assert out.read_bytes() == b"precious"
    proc = run_gpuviz("record", "--steps", "4", "--every", "2", "--out", str(out), "--force", display=False)
    assert proc.returncode == 0, proc.stderr
    assert len(decode_video(out)[0]) == 3
    assert part_files(tmp_path) == []


def test_an_unknown_video_type_is_refused_before_training(run_gpuviz, tmp_path):
    proc = run_gpuviz("record", "--steps", "5", "--out", str(tmp_path / "v.avi"), display=False)
    assert proc.returncode == 2
    assert "v.avi" in proc.stderr and ".mp4" in proc.stderr
    assert "Traceback" not in proc.stderr


class LongRecording:
    """`gpuviz record` of 500 frames in a subprocess, with its progress lines collected."""

    def __init__(self, out) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("DISPLAY", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "gpuviz_app", "record", "--steps", "500", "--every",
                                      "1", "--size", "200x128", "--out", str(out), "--device", "cpu"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_midway(self, timeout: float = 240) -> None:
        """Until 10% of the frames are made (a progress line per 10%): well under way, far from done."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            assert line is not None, "".join(self.seen)
            self.seen.append(line)
            if line.startswith("step 50/500"):
                return
        raise AssertionError("the recording did not get under way: " + "".join(self.seen))

    def rest(self) -> str:
        self.proc.wait(60)
        out = []
        while (line := self.lines.get(timeout=10)) is not None:
            out.append(line)
        return "".join(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def test_a_recording_killed_midway_leaves_no_file_at_the_final_path(tmp_path):
    out = tmp_path / "killed.mp4"
    run = LongRecording(out)
    try:
        run.wait_midway()
        assert part_files(tmp_path), "the video is being written under a temporary name"
        run.proc.send_signal(signal.SIGKILL)
        run.proc.wait(30)
    finally:
        run.kill()
    assert run.proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert all(name.startswith(".killed.") for name in part_files(tmp_path))  # only a hidden temporary


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_cancelled_recording_cleans_up(tmp_path, sig):
    out = tmp_path / "cancelled.webm"
    run = LongRecording(out)
    try:
        run.wait_midway()
        run.proc.send_signal(sig)
        err = run.rest()
    finally:
        run.kill()
    assert run.proc.returncode == 130, err
    assert "cancelled" in err and "Traceback" not in err
    assert not out.exists()
    assert part_files(tmp_path) == []
