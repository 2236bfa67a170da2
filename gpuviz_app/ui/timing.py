"""Start-up and throughput marks for `gpuviz bench`, written only when GPUVIZ_TIMING names a file.

The benchmark starts the real app in a fresh process; the window records when it was first
painted, when the first training frame was drawn, and (step, time) pairs of the snapshots it
saw, and writes them as JSON when it closes.
"""

from __future__ import annotations

import json
import os
import time

_PATH = os.environ.get("GPUVIZ_TIMING")
_marks: dict[str, float] = {}
_samples: list[tuple[int, float]] = []


def enabled() -> bool:
    return bool(_PATH)


def mark(name: str) -> None:
    if _PATH and name not in _marks:
        _marks[name] = time.time()


def sample(step: int, wall_time: float) -> None:
    if _PATH:
        _samples.append((step, wall_time))


def write() -> None:
    if not _PATH:
        return
    with open(_PATH, "w") as f:
        json.dump({"marks": _marks, "samples": _samples}, f)
