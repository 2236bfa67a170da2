"""Reading back what gpuviz wrote, with PyAV, as a player would."""

from __future__ import annotations

import numpy as np


def decode_video(path) -> tuple[list[np.ndarray], list[float], str]:
    """RGB frames, their presentation times (s) and the codec name."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        frames, times = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.time) if frame.time is not None else float("nan"))
    return frames, times, codec


def assert_consecutive_frames_differ(frames: list[np.ndarray]) -> None:
    for i in range(len(frames) - 1):
        assert not np.array_equal(frames[i], frames[i + 1]), f"frames {i} and {i + 1} are identical"


def part_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)
