import numpy as np
import pytest

from gpuviz_app.export.recorder import Recording
from tests.export.decode import decode_video, part_files
from tests.export.test_video import SIZE, BlockingWriter, moving_bar


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_real_time_frames_sit_on_the_fps_grid_and_the_video_lasts_as_long(tmp_path):
    clock = FakeClock()
    rec = Recording(tmp_path / "v.mp4", SIZE, fps=10, clock=clock)
    drawn_at = [0.0, 0.02, 0.05, 0.13, 0.61, 0.64, 1.0]  # when the display drew a frame
    taken = []
    for i, t in enumerate(drawn_at):
        clock.t = 100.0 + t
        if rec.wants(step=i):
            taken.append(t)
            assert rec.add(moving_bar(i), step=i)
    assert taken == [0.0, 0.13, 0.61, 1.0]  # at most one frame per 0.1 s slot
    clock.t = 100.0 + 2.05  # paused for a while before stopping
    path = rec.finish()
    frames, times, _ = decode_video(path)
    assert len(frames) == rec.frames == 5  # the last frame is repeated at the stop time
    assert times == pytest.approx([0.0, 0.1, 0.6, 1.0, 2.0], abs=0.002)


def test_time_lapse_takes_one_frame_per_k_steps(tmp_path):
    clock = FakeClock()
    rec = Recording(tmp_path / "v.gif", SIZE, fps=30, every_steps=100, clock=clock)
    shown_steps = [0, 30, 99, 100, 150, 260, 270, 299, 300, 1000]
    taken = []
    for i, step in enumerate(shown_steps):
        clock.t += 0.5
        if rec.wants(step):
            rec.add(moving_bar(i), step)
            taken.append(step)
    assert taken == [0, 100, 260, 300, 1000]  # the display may show a step past a multiple of k
    frames, times, _ = decode_video(rec.finish())
    assert len(frames) == 5
    assert times == pytest.approx([i / 30 for i in range(5)], abs=0.011)  # one video frame each (GIF: 1/100 s)


def test_a_slow_encoder_throttles_capture_and_says_so(tmp_path):
    clock = FakeClock()
    rec = Recording(tmp_path / "v.mp4", SIZE, fps=10, queue_frames=2, clock=clock)
    blocking = BlockingWriter(rec.writer)
    rec.encoder.writer = blocking  # the encoder thread now waits on every frame
    taken = 0
    for i in range(20):
        clock.t += 0.1
        for _ in range(3):  # asked several times in one slot: one skip counted
            if rec.wants(step=i):
                rec.add(moving_bar(i % 12), step=i)
                taken += 1
    assert taken <= 3  # one in the writer, two in the queue
    assert rec.skipped == 20 - taken
    assert rec.behind
    blocking.release.set()
    frames, _, _ = decode_video(rec.finish())
    assert len(frames) == rec.frames


def test_cancel_and_an_empty_recording_leave_no_file(tmp_path):
    rec = Recording(tmp_path / "a.mp4", SIZE, fps=10)
    rec.add(moving_bar(0), 0)
    rec.cancel()
    empty = Recording(tmp_path / "b.webm", SIZE, fps=10)
    with pytest.raises(RuntimeError, match="no frame"):
        empty.finish()
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "b.webm").exists()
    assert part_files(tmp_path) == []


def test_frames_of_another_size_are_fitted_to_the_video(tmp_path):
    rec = Recording(tmp_path / "v.mp4", (100, 60), fps=10)
    rec.add(np.full((50, 120, 4), 200, np.uint8), 0)  # a panel that changed size while recording
    rec._clock = lambda: rec.started + 0.2
    rec.add(np.full((80, 90, 3), 90, np.uint8), 1)
    frames, _, _ = decode_video(rec.finish())
    assert [f.shape for f in frames] == [(60, 100, 3)] * 2
