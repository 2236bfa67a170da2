"""Recording what the window shows: one view, or the dashboard (every visible view).

Frames come from the display's own draws: after a recorded panel has drawn, its frame is
read back from the widget's framebuffer (one `glReadPixels`, no second render) and, when
the `Recording` schedule wants it, composed and handed to the background encoder. The
display's frame pacer decides how often panels draw; while a recording runs it gets an
extra CPU budget (`extra_display_budget`) and pays the encoder's CPU time from it, so the
whole recording costs a bounded share of the machine and the cores stay with training.
Capture never waits: a full encoder queue skips the frame and the status says so.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from gpuviz_app.export.frames import compose, read_back
from gpuviz_app.export.recorder import Recording, extra_display_budget
from gpuviz_app.ui.lifetime import make_timer

log = logging.getLogger(__name__)

POLL_MS = 10
DASHBOARD = "dashboard"


def target_panels(window, target: str) -> list[tuple[str, QtWidgets.QWidget]]:
    """(name, panel) pairs a target covers: one view, or every visible one for the dashboard."""
    visible = set(map(id, window.visible_panels()))
    if target == DASHBOARD:
        return [(n, p) for n, p in window.panels.items() if id(p) in visible]
    panel = window.panels.get(target)
    return [(target, panel)] if panel is not None and id(panel) in visible else []


def panel_layout(window, panels) -> tuple[tuple[int, int], dict[str, tuple[int, int, int, int]]]:
    """Size (w, h) of the box around the panels' canvases, and each one's (x, y, w, h) in it,
    in logical pixels of the window."""
    rects = {}
    for name, panel in panels:
        native = panel.canvas.native
        pos = native.mapTo(window, QtCore.QPoint(0, 0))
        rects[name] = (pos.x(), pos.y(), native.width(), native.height())
    if not rects:
        return (0, 0), {}
    x0 = min(r[0] for r in rects.values())
    y0 = min(r[1] for r in rects.values())
    x1 = max(r[0] + r[2] for r in rects.values())
    y1 = max(r[1] + r[3] for r in rects.values())
    return (x1 - x0, y1 - y0), {n: (x - x0, y - y0, w, h) for n, (x, y, w, h) in rects.items()}


class WindowRecorder(QtCore.QObject):
    """Starts, feeds and stops a `Recording` of a target in the window."""

    status_changed = QtCore.Signal(str)
    active_changed = QtCore.Signal(bool)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.recording: Recording | None = None
        self.target = ""
        self._seen: dict[str, int] = {}
        self._pixels: dict[str, np.ndarray] = {}
        self._timer = make_timer(self, POLL_MS, self._poll)
        self._timer.setObjectName("gpuviz-recorder")
        self._status_timer = make_timer(self, 250, self._emit_status)
        self._status_timer.setObjectName("gpuviz-recorder-status")

    @property
    def active(self) -> bool:
        return self.recording is not None

    def _dpr(self) -> float:
        return float(self.window.devicePixelRatioF())

    def frame_size(self, target: str) -> tuple[int, int]:
        """Pixels of a frame of `target` as it is laid out now."""
        panels = target_panels(self.window, target)
        if not panels:
            raise ValueError(f"the {target} view is not visible")
        if target != DASHBOARD:
            return tuple(panels[0][1].canvas.canvas.physical_size)
        (w, h), _ = panel_layout(self.window, panels)
        dpr = self._dpr()
        return int(round(w * dpr)), int(round(h * dpr))

    def start(self, target: str, path: str | os.PathLike, fps: float = 30.0, every_steps: int | None = None,
              overwrite: bool = False) -> Recording:
        """Record `target` into `path` (.mp4, .webm or .gif) until `stop()`."""
        if self.recording is not None:
            raise RuntimeError("a recording is already running")
        self.recording = Recording(path, self.frame_size(target), fps=fps, every_steps=every_steps,
                                   overwrite=overwrite)
        self.target = target
        self._seen.clear()
        self._pixels.clear()
        self.window.pacer.extra = extra_display_budget()
        for _, panel in target_panels(self.window, target):
            panel.canvas.canvas.update()  # a first frame now, even if training is paused
        self._timer.start()
        self._status_timer.start()
        self._emit_status()
        self.active_changed.emit(True)
        return self.recording

    def _end(self) -> Recording | None:
        rec, self.recording = self.recording, None
        self._timer.stop()
        self._status_timer.stop()
        self.window.pacer.extra = 0.0
        self._pixels.clear()
        if rec is not None:
            self.active_changed.emit(False)
        return rec

    def stop(self) -> Path | None:
        """Finish the file (it appears under its name now). Raises if encoding failed."""
        rec = self._end()
        if rec is None:
            return None
        try:
            return rec.finish()
        finally:
            self._emit_status(rec)

    def cancel(self) -> None:
        rec = self._end()
        if rec is not None:
            rec.cancel()
            self.status_changed.emit("")

    # -- capture -------------------------------------------------------------------------
    def _poll(self) -> None:
        rec = self.recording
        if rec is None:
            return
        self.window.pacer.tokens -= rec.take_encoder_cpu()  # encoding is paid from the display budget
        panels = target_panels(self.window, self.target)
        fresh = [(n, p) for n, p in panels if p.canvas.frames != self._seen.get(n) or n not in self._pixels]
        if not fresh:
            return
        snap = self.window.snapshot
        step = snap.step if snap is not None else 0
        if not rec.wants(step):
            return
        for name, panel in fresh:
            self._seen[name] = panel.canvas.frames
            self._pixels[name] = read_back(panel.canvas)
        if self.target == DASHBOARD:
            pixels = self._compose(panels)
        else:
            pixels = self._pixels[self.target]
        rec.add(pixels, step)

    def _compose(self, panels) -> np.ndarray:
        _, rects = panel_layout(self.window, panels)
        dpr = self._dpr()
        parts = [(self._pixels[n], (int(round(x * dpr)), int(round(y * dpr))))
                 for n, (x, y, _, _) in rects.items() if n in self._pixels]
        return compose(parts, self.recording.size)

    # -- status --------------------------------------------------------------------------
    def status_text(self, rec: Recording | None = None) -> str:
        rec = rec or self.recording
        if rec is None:
            return ""
        secs = int(rec.elapsed_s)
        head = "● REC" if not rec.closed else "Saved" if rec.error is None else "Failed"
        text = f"{head} {secs // 60:02d}:{secs % 60:02d} · {rec.frames} frames"
        if rec.every_steps is None:
            text += f" · {rec.achieved_fps:.1f}/{rec.fps:g} fps"
        else:
            text += f" · every {rec.every_steps} steps"
            if rec.last_step is not None:
                text += f" (step {rec.last_step:,})"
        if rec.error is not None:
            text += f" · encoder failed: {rec.error}"
        elif rec.behind:
            text += " · encoder behind: capture throttled"
        return text

    def _emit_status(self, rec: Recording | None = None) -> None:
        self.status_changed.emit(self.status_text(rec))
