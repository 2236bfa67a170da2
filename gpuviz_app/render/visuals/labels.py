"""Many text labels, each with its own anchor, size and colour, in one visual.

A VisPy text visual has one anchor and one font size, so a plot's decorations (tick labels
right- or centre-aligned, a title, a legend, a message) took six of them, and each visual is
a GL program to build and draw: at a launch's first paint most of the metrics view's time went
to programs that draw a few words. Here every label of a plot is one visual: each string's
vertices are laid out with its own anchor (VisPy's own layout function) and scaled by its size
over the visual's, which is what a text visual of that size would draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from vispy.gloo import IndexBuffer, VertexBuffer
from vispy.scene.visuals import create_visual_node
from vispy.visuals.text.text import FontManager, TextVisual, _text_to_vbo


@dataclass(frozen=True)
class Label:
    """One string at `pos` (pixels of the visual's frame), anchored there as VisPy anchors text."""

    text: str
    pos: tuple[float, float]
    color: str
    size: float = 7.0  # points
    anchor_x: str = "left"  # "left", "center" or "right"
    anchor_y: str = "center"  # "top", "center" or "bottom"


class LabelsVisual(TextVisual):
    """`set_labels` replaces every label at once; an empty list draws nothing."""

    def __init__(self, font_manager: FontManager | None = None, font_size: float = 7.0) -> None:
        self._layout: list[tuple[str, str, float]] = []  # each label's anchors and size
        self.labels: tuple[Label, ...] = ()
        super().__init__("", font_size=font_size, anchor_x="left", anchor_y="center",
                         font_manager=font_manager, method="cpu")

    def set_labels(self, labels: Sequence[Label]) -> None:
        labels = tuple(labels)
        if labels == self.labels:
            return
        self.labels = labels
        self._layout = [(label.anchor_x, label.anchor_y, label.size) for label in labels]
        if not labels:
            self.text = []
            return
        self.text = [label.text for label in labels]  # new vertices, positions and colours
        self.pos = [label.pos for label in labels]
        self.color = [label.color for label in labels]

    def _prepare_draw(self, view):
        if len(self.text) == 0:
            return False
        if self._vertices is None:
            self._build_vertices()
        return super()._prepare_draw(view)

    def _build_vertices(self) -> None:
        """As `TextVisual` does, with each label's own anchors, its glyphs scaled to its size."""
        parts = []
        for text, (anchor_x, anchor_y, size) in zip(self.text, self._layout):
            vertices = _text_to_vbo(text, self._font, anchor_x, anchor_y, self._font._lowres_size,
                                    self._line_height)
            vertices["a_position"] *= size / self._font_size
            parts.append(vertices)
        self._vertices_data = np.concatenate(parts)
        self._vertices = VertexBuffer(self._vertices_data)
        n_char = sum(len(text) for text in self.text)
        index = np.array([0, 1, 2, 0, 2, 3], np.uint32) + np.arange(0, 4 * n_char, 4, dtype=np.uint32)[:, None]
        self._index_buffer = IndexBuffer(index.ravel())
        self.shared_program.bind(self._vertices)
        self._configure_gl_state()


Labels = create_visual_node(LabelsVisual)
