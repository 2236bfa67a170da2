"""What the embedding view draws over the cloud: legend, picked sample, status line."""

from __future__ import annotations

import colorsys

import numpy as np
from vispy import scene

from gpuviz_app.render.plot import TEXT
from gpuviz_app.render.visuals.thumbnail import Thumbnail, thumbnail_rgba

# Tableau 10 then 20: distinct on a dark background.
_TAB10 = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
          "#9c755f", "#bab0ac"]
_TAB20_EXTRA = ["#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2",
                "#d7b5a6", "#79706e"]
RIGHT, WRONG = "#a3be8c", "#bf616a"
LEGEND_MAX = 20
THUMBNAIL = 64


def hex_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def class_colors(n: int) -> np.ndarray:
    """(n, 4) uint8 colours, one per class: Tableau for up to 20, evenly spaced hues beyond."""
    if n <= 20:
        names = (_TAB10 + _TAB20_EXTRA)[:n]
        rgb = [hex_rgb(c) for c in names]
    else:
        golden = 0.618033988749895
        rgb = [tuple(int(255 * v) for v in colorsys.hsv_to_rgb((i * golden) % 1.0, 0.65, 0.95)) for i in range(n)]
    out = np.full((n, 4), 255, np.uint8)
    if n:
        out[:, :3] = np.array(rgb, np.uint8)
    return out


def parse_class_filter(text: str, classes: list[str]) -> np.ndarray:
    """Which classes `text` keeps: comma- or space-separated class names or numbers; empty keeps all."""
    keep = np.zeros(len(classes), bool)
    tokens = [t for t in text.replace(",", " ").split() if t]
    if not tokens:
        keep[:] = True
        return keep
    names = {name: i for i, name in enumerate(classes)}
    for token in tokens:
        if token in names:
            keep[names[token]] = True
        elif token.lstrip("-").isdigit() and 0 <= int(token) < len(classes):
            keep[int(token)] = True
    return keep


class Legend:
    """Coloured squares and names in the top-right corner of the view."""

    def __init__(self, parent: scene.Widget) -> None:
        self.parent = parent
        self.squares = scene.visuals.Markers(pos=np.zeros((1, 2), np.float32), parent=parent)
        self.squares.visible = False
        self.text = scene.visuals.Text("", color=TEXT, font_size=8, anchor_x="left", anchor_y="center",
                                       parent=parent)
        self.entries: list[tuple[str, tuple[int, int, int, int]]] = []

    def set_entries(self, entries: list[tuple[str, tuple[int, int, int, int]]]) -> None:
        if len(entries) > LEGEND_MAX:
            rest = len(entries) - LEGEND_MAX + 1
            entries = entries[: LEGEND_MAX - 1] + [(f"+{rest} more", (128, 128, 128, 255))]
        self.entries = entries
        self.layout()

    def layout(self) -> None:
        w, _ = self.parent.size
        n = len(self.entries)
        if not n:
            self.squares.visible = self.text.visible = False
            return
        width = 12 + 7 * max(len(label) for label, _ in self.entries)
        x = max(w - width - 10, 0)
        ys = 16 + 15 * np.arange(n, dtype=np.float32)
        pos = np.stack([np.full(n, x, np.float32), ys], axis=1)
        colors = np.array([c for _, c in self.entries], np.float32) / 255
        self.squares.set_data(pos=pos, face_color=colors, edge_width=0, size=9, symbol="square")
        self.text.text = [label for label, _ in self.entries]
        self.text.pos = pos + (10, 0)
        self.squares.visible = self.text.visible = True


class InfoPanel:
    """The picked sample: its input as a fixed-size thumbnail and a line of text."""

    def __init__(self, parent: scene.Widget) -> None:
        self.parent = parent
        self.thumbnail = Thumbnail(THUMBNAIL, parent=parent)
        self.text = scene.visuals.Text("", color=TEXT, font_size=8, anchor_x="left", anchor_y="bottom",
                                       parent=parent)
        self.status = scene.visuals.Text("", color=TEXT, font_size=8, anchor_x="left", anchor_y="bottom",
                                         parent=parent)
        self.shown: tuple | None = None
        self.marker = None

    def layout(self) -> None:
        _, h = self.parent.size
        self.thumbnail.place(10, h - 10 - THUMBNAIL)
        self.text.pos = (10 + THUMBNAIL + 10, h - 12)
        self.status.pos = (10, 20)

    def show(self, index: int, label: str, predicted: str, sample: np.ndarray, kind: str, upload) -> None:
        mark = "" if label == predicted else "  (wrong)"
        self.text.text = f"#{index}  label {label}  predicted {predicted}{mark}"
        key = (index, id(sample))
        if key != self.shown:
            self.thumbnail.write(thumbnail_rgba(sample, kind, THUMBNAIL), upload)
            self.shown = key

    def clear(self) -> None:
        self.text.text = ""
        self.thumbnail.clear()
        self.shown = None

    def set_status(self, text: str) -> None:
        if self.status.text != text:
            self.status.text = text
