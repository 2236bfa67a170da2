import math

from hypothesis import given
from hypothesis import strategies as st

from gpuviz_app.export.headless import CLIP_S, default_every, frame_steps


@given(st.integers(0, 100_000), st.integers(1, 5_000))
def test_frame_steps_are_the_start_every_k_steps_and_the_end(steps, every):
    frames = frame_steps(steps, every)
    assert len(frames) == math.ceil(steps / every) + 1
    assert frames[0] == 0 and frames[-1] == steps
    assert all(b - a == every for a, b in zip(frames[:-2], frames[1:-1]))
    assert all(0 < b - a <= every for a, b in zip(frames, frames[1:]))


def test_the_default_every_makes_a_short_clip():
    assert default_every(200, 30) == 1  # short runs: every step
    every = default_every(10_000, 30)
    frames = len(frame_steps(10_000, every))
    assert frames / 30 <= CLIP_S + 1 / 30  # a 10,000-step run makes a clip of at most ~10 s
    assert frames / 30 > CLIP_S * 0.9
