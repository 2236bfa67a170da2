"""A 2-D plot: a data area with series, and decorations drawn in few calls.

Axes, ticks, grid and frame are one line visual and every label one text visual, laid out
in pixels around a ViewBox; they are rebuilt only when the visible range or the size
changes. Following the data moves the range in coarse, rounded jumps (with hysteresis),
so that rebuild happens a few times per run, not every frame.
"""

from __future__ import annotations

import math
import time

import numpy as np
from vispy import scene
from vispy.visuals.text.text import FontManager

from gpuviz_app.render.axes import format_tick, ticks
from gpuviz_app.render.visuals.labels import Label, Labels
from gpuviz_app.render.visuals.segments import Segments
from gpuviz_app.render.visuals.series import Series

TEXT = "#d8dee9"
FRAME = "#4c566a"
GRID = "#262b33"
BACKGROUND = "#14171c"
MARGINS = (58, 10, 22, 30)
X_PAD = 0.015  # of the step axis, either side  # left, right, top, bottom (pixels)
TITLE_CHAR = 7.0  # pixels per character of the title (font size 8), about
LEGEND_CHAR = 6.5  # ... and of a legend entry (font size 7)
TICK_SIZE, TITLE_SIZE, MESSAGE_SIZE = 7, 8, 9  # points: tick labels, legend and marks; title; message
RANGE_STEPS = 2.0 ** (1 / 3)  # ratio of one followed range's span to the next smaller one
_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def nice_ceil(value: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten) >= value."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exp = math.floor(math.log10(value))
    base = 10.0**exp
    for m in _NICE:
        if m * base >= value * (1 - 1e-12):
            return m * base
    return 10.0 * base


def shorten(text: str, chars: int) -> str:
    """`text` in at most `chars` characters, cut in the middle with an ellipsis: a series name's
    start says its group and its end tells it from its neighbours."""
    if len(text) <= chars:
        return text
    if chars < 2:
        return "\u2026"
    head = chars // 2
    tail = chars - 1 - head
    return text[:head] + "\u2026" + (text[-tail:] if tail else "")


def steady_range(lo: float, hi: float, pad: float = 0.08) -> tuple[float, float]:
    """A range holding [lo, hi] with about `pad` of their span either side, that moves in coarse
    jumps and depends on `lo` and `hi` alone (never on the range shown before), so a recorded step
    replayed shows exactly what was shown live: its span is the next of the spans RANGE_STEPS apart
    at or above the padded data's (the data fills at least about two thirds of it), its centre on a
    grid of a power-of-two fraction of that span, fine enough to keep the data inside."""
    span = hi - lo
    if not span > 0:
        span = max(abs(hi) * 0.1, 1e-3)
        lo, hi = lo - span / 2, hi + span / 2
    width = RANGE_STEPS ** math.ceil(math.log(span * (1 + 2 * pad), RANGE_STEPS))
    quantum = width / 2.0 ** math.ceil(math.log2((1 + 2 * pad) / pad))
    centre = round((lo + hi) / 2 / quantum) * quantum
    return centre - width / 2, centre + width / 2


class Plot:
    """Builds into a VisPy widget; the camera follows the data until the user pans or zooms.

    Double-click returns to following.
    """

    def __init__(self, parent: scene.Widget, title: str, xlabel: str = "step",
                 fonts: FontManager | None = None) -> None:
        self.widget = parent
        self.title, self.xlabel = title, xlabel
        self.legend: list[tuple[str, str]] = []
        self.view = parent.add_view(bgcolor=None, border_color=None)
        self.view.camera = scene.PanZoomCamera(aspect=None)
        self.view.camera.interactive = True
        self.lines = Segments(parent=parent)
        # every text of the plot is one visual, of one glyph atlas (a texture); plots on one canvas
        # may share their atlas (`fonts`: an atlas is a texture of one GL context)
        self.texts = Labels(font_manager=fonts or FontManager(method="cpu"), font_size=TICK_SIZE, parent=parent)
        self.shown: dict[str, list[Label]] = {}  # the labels of each kind, as laid out last
        self.message = ""  # why the data area is blank ("no data yet"), or ""
        self.note = ""  # a short line after the title (the step shown)
        self.marks: list[tuple[float, str, str]] = []  # vertical lines: (x, colour, label)
        self.series: dict[str, Series] = {}
        self.follow = True
        self.log = False
        self.scale = "linear"  # or "log", or "clipped": values above `clip` drawn at `clip`
        self.clip = math.inf
        self._last_press = 0.0
        self._yrange: tuple[float, float] | None = None
        self._range: tuple[float, float, float, float] | None = None
        self._decorated: tuple | None = None
        parent.events.resize.connect(self._layout)
        self.view.scene.transform.changed.connect(self._decorate)
        self.view.events.mouse_wheel.connect(self._user_moved)
        self.view.events.mouse_move.connect(self._on_drag)
        self.view.events.mouse_press.connect(self._on_press)
        self._layout()

    def add_series(self, key: str, label: str, color: str) -> Series:
        line = Series(color=color, parent=self.view.scene)
        self.series[key] = line
        self.legend.append((label, color))
        self._decorated = None
        self._decorate()
        return line

    # -- layout and decorations ---------------------------------------------------------------
    def _layout(self, event=None) -> None:
        w, h = self.widget.size
        left, right, top, bottom = MARGINS
        self.view.pos = (left, top)
        self.view.size = (max(w - left - right, 1), max(h - top - bottom, 1))
        self._decorate()

    def _decorate(self, event=None) -> None:
        rect = self.view.camera.rect
        w, h = self.view.size
        key = (rect.left, rect.right, rect.bottom, rect.top, w, h, self.log, tuple(self.legend), self.title,
               self.note, self.message, tuple(self.marks), self.scale, self.clip)
        if key == self._decorated:
            return
        self._decorated = key
        left, _, top, _ = MARGINS
        x0, x1, y0, y1 = rect.left, rect.right, rect.bottom, rect.top
        sx = w / (x1 - x0) if x1 != x0 else 0.0
        sy = h / (y1 - y0) if y1 != y0 else 0.0

        def px(x: float) -> float:
            return left + (x - x0) * sx

        def py(y: float) -> float:
            return top + h - (y - y0) * sy

        segs, colors = [], []

        def seg(a, b, color) -> None:
            segs.extend((a, b))
            colors.extend((color, color))

        xt = [(v, s) for v, s in ticks(x0, x1, max(2, int(w / 90))) if x0 <= v <= x1]
        y_ticks = max(2, int(h / 18)) if self.log else max(2, int(h / 40))
        yt = [(v, s) for v, s in ticks(y0, y1, y_ticks, log=self.log) if y0 <= v <= y1]
        for v, _ in xt:
            seg((px(v), top), (px(v), top + h), GRID)
            seg((px(v), top + h), (px(v), top + h + 4), FRAME)
        for v, _ in yt:
            seg((left, py(v)), (left + w, py(v)), GRID)
            seg((left - 4, py(v)), (left, py(v)), FRAME)
        corners = [(left, top), (left + w, top), (left + w, top + h), (left, top + h)]
        for i in range(4):
            seg(corners[i], corners[(i + 1) % 4], FRAME)
        marks = [(px(x), color, label) for x, color, label in self.marks if x0 <= x <= x1]
        for x, color, _ in marks:
            seg((x, top), (x, top + h), color)
        self.lines.set_data(pos=np.array(segs, np.float32), color=np.array(
            [_rgba(c) for c in colors], np.float32))
        kinds = {"ticks_x": [Label(s, (px(v), top + h + 6), TEXT, TICK_SIZE, "center", "top") for v, s in xt],
                 "ticks_y": [Label(s, (left - 6, py(v)), TEXT, TICK_SIZE, "right") for v, s in yt],
                 "marks": [Label(label, (x + 4, top + h - 10), color, TICK_SIZE) for x, color, label in marks]}
        scale = {"log": "  (log)", "clipped": f"  (clipped at {format_tick(self.clip)})"}.get(self.scale, "")
        tail = scale + (f"  \u00b7  {self.note}" if self.note else "")
        title = shorten(self.title, max(8, int(w / TITLE_CHAR) - len(tail))) + tail
        room = max(6, int(0.5 * w / LEGEND_CHAR) - 2)  # an entry takes at most half the plot's width
        entries = [f"{shorten(label, room)} \u2014" for label, _ in self.legend]
        colors = [color for _, color in self.legend]
        if 12 * len(entries) + 6 <= h:  # inside the data area's top-right corner, one entry a line
            legend_pos = [(left + w - 6, top + 9 + 12 * i) for i in range(len(entries))]
        else:  # a short plot: along the title line, right-aligned, as many as fit beside the title
            title_end = left + TITLE_CHAR * len(title) + 12
            shown = len(entries)
            while shown and _along(entries[:shown], left + w - 6, title_end) is None:
                shown -= 1
            if shown < len(entries):  # the last place says how many are left out
                while shown >= 0:
                    more = [*entries[:shown], f"+{len(entries) - shown} more"]
                    if _along(more, left + w - 6, title_end) is not None or not shown:
                        break
                    shown -= 1
                entries, colors = more, [*colors[:shown], TEXT]
            legend_pos = [(x, top / 2) for x in _along(entries, left + w - 6, title_end) or []]
            entries = entries[: len(legend_pos)]
        kinds["legend"] = [Label(entry, pos, color, TICK_SIZE, "right")
                           for entry, pos, color in zip(entries, legend_pos, colors)]
        kinds["message"] = [Label(self.message, (left + w / 2, top + h / 2), TEXT, MESSAGE_SIZE, "center")
                            ] if self.message else []
        kinds["title"] = [Label(title, (left, top / 2), TEXT, TITLE_SIZE),
                          Label(self.xlabel, (left + w - 7 * len(self.xlabel), top + h + 20), TEXT, TITLE_SIZE)]
        self.shown = kinds
        self.texts.set_labels([label for labels in kinds.values() for label in labels])

    def shown_texts(self, kind: str) -> list[str]:
        """The strings of one kind of label as last laid out: "ticks_x", "ticks_y", "marks",
        "legend", "message" or "title" (the title and the x axis's label)."""
        return [label.text for label in self.shown.get(kind, [])]

    def refresh(self) -> None:
        """Redraw the decorations after `title` or `legend` were assigned."""
        self._decorate()

    def set_note(self, note: str) -> None:
        """A short line after the title, e.g. the step the plot shows."""
        if note != self.note:
            self.note = note
            self._decorate()

    def set_message(self, message: str) -> None:
        """Say why the data area is blank ("no data yet"); "" when it is not."""
        if message != self.message:
            self.message = message
            self._decorate()

    def set_marks(self, marks: list[tuple[float, str, str]]) -> None:
        """Vertical lines at data x, each with a colour and a label (e.g. where a run diverged)."""
        if marks != self.marks:
            self.marks = list(marks)
            self._decorate()

    # -- data ---------------------------------------------------------------------------------
    def columns(self) -> int:
        """Pixel columns of the data area: the resolution decimation aims at."""
        w = int(self.view.size[0])
        if w <= 16:  # not laid out yet
            return 1024
        return min(w, 4096)

    def set_log(self, log: bool) -> None:
        self.set_scale("log" if log else "linear")

    def set_scale(self, scale: str, clip: float = math.inf) -> None:
        """"linear", "log" (decades), or "clipped" (values above `clip` drawn at `clip`)."""
        clip = float(clip) if scale == "clipped" else math.inf
        if (scale, clip) == (self.scale, self.clip):
            return
        self.scale, self.clip, self.log = scale, clip, scale == "log"
        self._resume_follow()

    def transform_y(self, y: np.ndarray) -> np.ndarray:
        if self.log:
            return np.log10(np.maximum(y, 1e-12))
        if self.scale == "clipped":
            return np.minimum(y, self.clip)
        return y

    def follow_data(self, x_last: float, y0: float, y1: float, exact: bool = False) -> None:
        """Show steps [0, x_last] and values [y0, y1], moving the range only in coarse jumps
        (`exact`: the step axis ends at `x_last` itself, for plots of a finished span)."""
        if not self.follow or not all(math.isfinite(v) for v in (x_last, y0, y1)):
            return
        x1 = max(x_last, 1.0) if exact else nice_ceil(max(x_last, 10.0))
        self._yrange = steady_range(y0, y1)
        rng = (-X_PAD * x1, (1 + X_PAD) * x1, *self._yrange)  # a point at either end is drawn whole
        if rng != self._range:
            self._range = rng
            self.view.camera.rect = _padded_rect(rng)

    # -- interaction ----------------------------------------------------------------------------
    def _user_moved(self, event=None) -> None:
        self.follow = False

    def _on_drag(self, event) -> None:
        if event.is_dragging:
            self.follow = False

    def _on_press(self, event) -> None:
        now = time.monotonic()
        if now - self._last_press < 0.35:
            self._resume_follow()
        self._last_press = now

    def _resume_follow(self, event=None) -> None:
        self.follow = True
        self._range = None
        self._yrange = None
        self._decorated = None


def _padded_rect(rng: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The camera rectangle for x and y ranges, each widened by 0.1 (what VisPy's `set_range`
    adds to any range) or a tenth of the range where that is less, so small values (a
    learning rate of 1e-4) fill their plot too."""
    x0, x1, y0, y1 = rng
    mx, my = 0.1 * min(1.0, x1 - x0), 0.1 * min(1.0, y1 - y0)
    (a, b), (c, d) = (x0 - mx, x1 + mx), (y0 - my, y1 + my)
    return a, c, b - a, d - c


def _along(texts: list[str], right: float, start: float) -> list[float] | None:
    """Right edges of `texts` set right to left from `right`, or None when they pass `start`."""
    edges, x = [], right
    for text in texts:
        if x - LEGEND_CHAR * len(text) < start:
            return None
        edges.append(x)
        x -= LEGEND_CHAR * len(text) + 12
    return edges


def _rgba(color: str) -> tuple[float, float, float, float]:
    c = color.lstrip("#")
    return (int(c[0:2], 16) / 255, int(c[2:4], 16) / 255, int(c[4:6], 16) / 255, 1.0)
