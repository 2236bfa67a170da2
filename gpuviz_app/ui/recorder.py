"""Recording what the window shows: one view, or the dashboard (every visible view).

Frames come from the display's own draws: when a recorded panel's canvas has drawn, its frame
is read back from the widget's framebuffer (one `glReadPixels`, no second render) and, when
the `Recording` schedule wants it, composed and handed to the background encoder. The frame
loop's pacer decides how often panels draw; while a recording runs it gets an extra CPU budget
(`extra_display_budget`) and the encoder's CPU time is charged to it, so the whole recording
costs a bounded share of the machine and the cores stay with training. Capture never waits:
a full encoder queue skips the frame and the status says so.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from PySide6 import QtCore, QtWidgets

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.core.view_names import DASHBOARD
from gpuviz_app.export.frames import compose, read_back
from gpuviz_app.export.recorder import Recording, extra_display_budget
from gpuviz_app.ui.frame_loop import FrameLoop
from gpuviz_app.ui.lifetime import make_timer

log = logging.getLogger(__name__)

STATUS_MS = 250  # the status line's clock; a frame the encoder could not take is retried as often


def target_panels(visible: Mapping[str, Any], target: str) -> list[tuple[str, Any]]:
    """(name, panel) pairs a target covers among the `visible` panels: one view, or all of them
    for the dashboard."""
    if target == DASHBOARD:
        return list(visible.items())
    panel = visible.get(target)
    return [(target, panel)] if panel is not None else []


def panel_layout(window: QtWidgets.QWidget, panels) -> tuple[tuple[int, int], dict[str, tuple[int, int, int, int]]]:
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
    """Starts, feeds and stops a `Recording` of a target in `window`, whose panels on screen
    `visible()` names; `frames` is the window's frame loop (its pacer pays for the recording)."""

    status_changed = QtCore.Signal(str)
    active_changed = QtCore.Signal(bool)

    def __init__(self, window: QtWidgets.QWidget, frames: FrameLoop,
                 visible: Callable[[], Mapping[str, Any]]) -> None:
        super().__init__(window)
        self.window = window
        self.frames = frames
        self._visible = visible
        self.recording: Recording | None = None
        self.target = ""
        self._fresh: set[str] = set()  # panels that drew since their pixels were read
        self._pixels: dict[str, np.ndarray] = {}
        self._watched: dict[str, tuple[Any, Callable]] = {}  # name -> (VisPy canvas, draw callback)
        self._capture_timer = make_timer(self, 0, self._capture, single_shot=True)
        self._capture_timer.setObjectName("gpuviz-recorder-capture")
        self._status_timer = make_timer(self, STATUS_MS, self._on_status_tick)
        self._status_timer.setObjectName("gpuviz-recorder-status")

    @property
    def active(self) -> bool:
        return self.recording is not None

    def _dpr(self) -> float:
        return float(self.window.devicePixelRatioF())

    def frame_size(self, target: str) -> tuple[int, int]:
        """Pixels of a frame of `target` as it is laid out now."""
        panels = target_panels(self._visible(), target)
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
        self._fresh.clear()
        self._pixels.clear()
        self.frames.pacer.set_extra(extra_display_budget())
        self.frames.frame_drawn.connect(self._on_frame_drawn)
        self._watch_targets()
        for _, panel in target_panels(self._visible(), target):
            panel.canvas.canvas.update()  # a first frame now, even if training is paused
        self._status_timer.start()
        self._emit_status()
        self.active_changed.emit(True)
        return self.recording

    def _end(self) -> Recording | None:
        rec, self.recording = self.recording, None
        self._capture_timer.stop()
        self._status_timer.stop()
        if rec is not None:
            self.frames.frame_drawn.disconnect(self._on_frame_drawn)
        for canvas, callback in self._watched.values():
            canvas.events.draw.disconnect(callback)
        self._watched.clear()
        self.frames.pacer.set_extra(0.0)
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
    def _watch_targets(self) -> None:
        """Hear the draws of the target's panels (a dock shown during a dashboard recording too)."""
        for name, panel in target_panels(self._visible(), self.target):
            if name in self._watched or panel.canvas is None:
                continue
            canvas = panel.canvas.canvas
            callback = lambda event=None, name=name: self._on_draw(name)  # noqa: E731
            canvas.events.draw.connect(callback)
            self._watched[name] = (canvas, callback)

    def _on_frame_drawn(self, snapshot: Snapshot) -> None:
        self._watch_targets()

    def _on_draw(self, name: str) -> None:
        """A recorded panel drew: read it back once the event loop is free (all panels of this
        frame have drawn by then)."""
        self._fresh.add(name)
        if not self._capture_timer.isActive():
            self._capture_timer.start()

    def _capture(self) -> None:
        rec = self.recording
        if rec is None:
            return
        self.frames.pacer.charge(rec.take_encoder_cpu())  # encoding is paid from the display budget
        panels = target_panels(self._visible(), self.target)
        fresh = [(n, p) for n, p in panels if p.canvas is not None and (n in self._fresh or n not in self._pixels)]
        if not fresh:
            return
        shown = self.frames.drawn if self.frames.drawn is not None else self.frames.snapshot
        step = shown.step if shown is not None else 0
        if not rec.wants(step):
            return  # still fresh: tried again at the next draw or status tick
        for name, panel in fresh:
            self._fresh.discard(name)
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

    def _on_status_tick(self) -> None:
        self._capture()
        self._emit_status()

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
