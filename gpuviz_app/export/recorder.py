"""Recording a live display: which drawn frames become video frames, and when to skip.

The host (the window, or a benchmark) draws as its frame pacer allows and asks
`Recording.wants(step)` before reading a frame back; `add(pixels, step)` hands the frame
to a `BackgroundEncoder` without waiting. Two schedules:

- real time (default): frames sit on a fixed grid of 1/fps seconds; a frame drawn in a
  grid slot already filled is not taken, and a slot with no frame holds the previous one
  (its `pts` jumps), so the video lasts as long as the recording did.
- time-lapse (`every_steps=k`): one frame each time training has passed another multiple
  of k steps, one video frame each, so a 10,000-step run with k=50 is a ~7 s clip at 30 fps.
  When training outruns the display, frames are further apart than k steps (never stalled).

When the encoder's queue is full a due frame is skipped (`skipped`, `behind`): capture
is throttled, never the trainer.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np


if TYPE_CHECKING:  # imported when a video starts: a launch records none
    from gpuviz_app.export.video import BackgroundEncoder, VideoWriter

BEHIND_MEMORY_S = 2.0  # `behind` stays true this long after a skipped frame


def extra_display_budget() -> float:
    """Display CPU seconds per second added while a recording runs: 1.5% of the machine, at
    most one core. About what H.264 (ultrafast, ~4.4 ms a 1280x720 frame here) costs at the
    display's own frame rate on a software renderer: the video gets every drawn frame, and
    more draws are not bought (at 4% a recording cost 12% of training, at 1.5% about 5%)."""
    return min(1.0, 0.015 * (os.cpu_count() or 1))


class Recording:
    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float = 30.0,
                 every_steps: int | None = None, overwrite: bool = False, queue_frames: int = 6,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if every_steps is not None and every_steps < 1:
            raise ValueError("every_steps must be >= 1")
        self.fps = float(fps)
        self.every_steps = every_steps
        self._clock = clock
        from gpuviz_app.export.video import BackgroundEncoder, VideoWriter

        self.writer = VideoWriter(path, size, fps, overwrite=overwrite)
        self.path = self.writer.path
        self.size = self.writer.size
        self.encoder = BackgroundEncoder(self.writer, queue_frames)
        self.started = clock()
        self.frames = 0
        self.skipped = 0
        self.steps: list[int] = []  # the training step each frame shows
        self._last_pts = -1
        self._next_step = 0
        self._last_pixels: np.ndarray | None = None
        self._skipped_at = -1e9
        self._skipped_key: int | None = None
        self._encoder_cpu_taken = 0.0
        self.closed = False

    # -- state ---------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        return self._clock() - self.started

    @property
    def behind(self) -> bool:
        """The encoder was behind recently (frames were skipped)."""
        return self._clock() - self._skipped_at < BEHIND_MEMORY_S

    @property
    def achieved_fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def last_step(self) -> int | None:
        return self.steps[-1] if self.steps else None

    @property
    def error(self) -> BaseException | None:
        return self.encoder.error

    def take_encoder_cpu(self) -> float:
        """CPU seconds the encoder thread used since the last call, for the host to charge
        to its display budget (so drawing, read-back and encoding share one budget)."""
        spent = self.encoder.cpu_s
        delta, self._encoder_cpu_taken = spent - self._encoder_cpu_taken, spent
        return delta

    def _slot(self) -> int:
        return int(self.elapsed_s * self.fps)

    # -- capture -------------------------------------------------------------------------
    def wants(self, step: int) -> bool:
        """Whether a frame drawn now (showing `step`) should be read back and added."""
        if self.closed or self.encoder.error is not None:
            return False
        if self.every_steps is None:
            key = self._slot()
            due = key > self._last_pts
        else:
            key = self._next_step
            due = self.frames == 0 or step >= self._next_step
        if not due:
            return False
        if self.encoder.full():
            self._skip(key)
            return False
        return True

    def _skip(self, key: int | None) -> None:
        """Count a due frame that could not be taken (once per slot, however often asked)."""
        self._skipped_at = self._clock()
        if key is None or key != self._skipped_key:
            self.skipped += 1
        self._skipped_key = key

    def add(self, pixels: np.ndarray, step: int) -> bool:
        """Queue a frame (RGB/RGBA, any size: fitted to the video's); False if it was skipped."""
        pts = max(self._slot(), self._last_pts + 1) if self.every_steps is None else self.frames
        if not self.encoder.offer(pixels, pts):
            self._skip(None)
            return False
        self._last_pts = pts
        self._last_pixels = pixels
        self.frames += 1
        self.steps.append(step)
        if self.every_steps is not None:
            self._next_step = (step // self.every_steps + 1) * self.every_steps
        return True

    # -- ending --------------------------------------------------------------------------
    def finish(self) -> Path:
        """Encode what is queued and move the file to its name.

        In real time the last frame is repeated at the current slot, so a pause at the end
        of a recording lasts in the video as long as it did.
        """
        if self.closed:
            return self.path
        self.closed = True
        slot = self._slot()
        if self.every_steps is None and self._last_pixels is not None and slot > self._last_pts + 1:
            try:
                self.encoder.put(self._last_pixels, slot)
                self.frames += 1
            except Exception:  # noqa: BLE001 - finish() below reports the encoder's error
                pass
        if self.frames == 0:
            self.encoder.cancel()
            raise RuntimeError(f"{self.path}: no frame was recorded, so no file was written")
        return self.encoder.finish()

    def cancel(self) -> None:
        """Stop and leave no file."""
        if not self.closed:
            self.closed = True
            self.encoder.cancel()
