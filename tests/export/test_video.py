import threading

import numpy as np
import pytest

from gpuviz_app.export.atomic import OutputExists
from gpuviz_app.export.video import BackgroundEncoder, VideoFormatError, VideoWriter, encoded_size
from tests.export.decode import assert_consecutive_frames_differ, decode_video, part_files

CODECS = {"mp4": "h264", "webm": "vp9", "gif": "gif"}
SIZE = (161, 121)  # odd on purpose


def moving_bar(i: int, size=SIZE, channels: int = 3) -> np.ndarray:
    w, h = size
    frame = np.zeros((h, w, channels), np.uint8)
    frame[..., :3] = (20, 23, 28)
    if channels == 4:
        frame[..., 3] = 255
    x = 10 + 12 * i
    frame[20:100, x : x + 10, :3] = (136, 192, 208)
    return frame


@pytest.mark.parametrize("ext", ["mp4", "webm", "gif"])
def test_written_frames_decode_with_the_right_count_size_and_content(tmp_path, ext):
    path = tmp_path / f"v.{ext}"
    with VideoWriter(path, SIZE, fps=10) as writer:
        for i in range(8):
            writer.write(moving_bar(i, channels=4 if i % 2 else 3))
    frames, _, codec = decode_video(path)
    assert codec == CODECS[ext]
    assert len(frames) == 8
    w, h = encoded_size(SIZE, path)
    assert (w, h) == ((162, 122) if ext != "gif" else SIZE)  # yuv420p needs even sizes: padded by one
    assert all(f.shape == (h, w, 3) for f in frames)
    assert_consecutive_frames_differ(frames)
    for i, frame in enumerate(frames):  # the bar is where it was drawn, in its colour
        x = 10 + 12 * i
        bar = frame[30:90, x + 2 : x + 8].reshape(-1, 3).mean(0)
        assert np.abs(bar - (136, 192, 208)).max() < 12, (i, bar)
        assert np.abs(frame[5, 5].astype(int) - (20, 23, 28)).max() < 12
    assert part_files(tmp_path) == []


@pytest.mark.parametrize("ext", ["mp4", "webm", "gif"])
def test_pts_gaps_hold_a_frame_for_its_time(tmp_path, ext):
    path = tmp_path / f"v.{ext}"
    with VideoWriter(path, SIZE, fps=10) as writer:
        for i, pts in enumerate([0, 1, 5, 6, 20]):
            writer.write(moving_bar(i), pts)
    frames, times, _ = decode_video(path)
    assert len(frames) == 5
    assert times == pytest.approx([0.0, 0.1, 0.5, 0.6, 2.0], abs=0.002)


def test_an_exception_while_writing_leaves_no_file(tmp_path):
    path = tmp_path / "v.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, SIZE) as writer:
            writer.write(moving_bar(0))
            raise RuntimeError("cancelled")
    assert not path.exists()
    assert part_files(tmp_path) == []


def test_an_existing_video_is_not_replaced(tmp_path):
    path = tmp_path / "v.webm"
    path.write_bytes(b"old")
    with pytest.raises(OutputExists):
        VideoWriter(path, SIZE)
    assert path.read_bytes() == b"old"
    assert part_files(tmp_path) == []


def test_an_unknown_suffix_is_refused_with_the_name(tmp_path):
    with pytest.raises(VideoFormatError, match="v.avi"):
        VideoWriter(tmp_path / "v.avi", SIZE)


class BlockingWriter:
    """Stands in for a slow encoder: each write waits until released."""

    def __init__(self, real: VideoWriter) -> None:
        self.real = real
        self.release = threading.Event()
        self.path = real.path

    def write(self, pixels, pts=None):
        self.release.wait(30)
        self.real.write(pixels, pts)

    def close(self):
        return self.real.close()

    def abort(self):
        self.real.abort()


def test_the_queue_is_bounded_and_offer_never_waits(tmp_path):
    writer = BlockingWriter(VideoWriter(tmp_path / "v.mp4", SIZE, fps=10))
    encoder = BackgroundEncoder(writer, max_frames=2)
    accepted = [encoder.offer(moving_bar(i), i) for i in range(6)]
    # one frame is being written (blocked), two wait in the queue: the rest are refused
    assert accepted.count(True) <= 3 and accepted[:2] == [True, True] and accepted[-1] is False
    writer.release.set()
    path = encoder.finish()
    frames, _, _ = decode_video(path)
    assert len(frames) == accepted.count(True)
    assert not encoder.alive


def test_cancel_leaves_no_file(tmp_path):
    writer = BlockingWriter(VideoWriter(tmp_path / "v.mp4", SIZE, fps=10))
    encoder = BackgroundEncoder(writer, max_frames=4)
    for i in range(3):
        encoder.offer(moving_bar(i), i)
    writer.release.set()
    encoder.cancel()
    assert not (tmp_path / "v.mp4").exists()
    assert part_files(tmp_path) == []
    assert not encoder.alive


def test_an_encoder_error_is_reported_and_leaves_no_file(tmp_path):
    encoder = BackgroundEncoder(VideoWriter(tmp_path / "v.mp4", SIZE, fps=10))
    encoder.put(moving_bar(0), 5)
    encoder.put(moving_bar(1), 2)  # goes back in time: the writer refuses it
    with pytest.raises(ValueError, match="back in time"):
        encoder.finish()
    assert not (tmp_path / "v.mp4").exists()
    assert part_files(tmp_path) == []
