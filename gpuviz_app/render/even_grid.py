"""A grid of equal rows and equal columns, where a cell may span columns.

VisPy's `Grid` lays its cells out with a constraint solver, made when the grid is and solved
again at the first draw after any change: at a launch it was a tenth of the metrics view's
first paint. A plot grid needs no constraints, only even shares of the space, so this widget
computes them directly, placing cells as `Grid` places them (offset by the padding, sized
within the padding and the margin).
"""

from __future__ import annotations

from vispy import scene
from vispy.geometry import Rect


class EvenGrid(scene.Widget):
    def __init__(self, spacing: float = 0.0, margin: float = 0.0, **kwargs) -> None:
        self._cells: dict[scene.Widget, tuple[int, int, int]] = {}
        self.spacing = spacing
        super().__init__(margin=margin, **kwargs)

    def add_cell(self, widget: scene.Widget, row: int, col: int, col_span: int = 1) -> scene.Widget:
        """Place `widget` at (`row`, `col`), `col_span` columns wide."""
        self._cells[widget] = (row, col, col_span)
        return self.add_widget(widget)

    def remove_widget(self, widget: scene.Widget) -> None:
        self._cells.pop(widget, None)
        super().remove_widget(widget)

    def cells(self) -> dict[scene.Widget, Rect]:
        """Each cell's rectangle in this widget's pixels, as `_update_child_widgets` sets it."""
        if not self._cells:
            return {}
        inner = self.rect.padded(self.padding + self.margin)
        rows = 1 + max(row for row, _, _ in self._cells.values())
        cols = max(col + span for _, col, span in self._cells.values())
        gap = self.spacing if len(self._cells) > 1 else 0.0
        width = max(inner.width - gap * (cols - 1), 0.0) / cols
        height = max(inner.height - gap * (rows - 1), 0.0) / rows
        return {widget: Rect(self.padding + col * (width + gap), self.padding + row * (height + gap),
                             span * width + (span - 1) * gap, height)
                for widget, (row, col, span) in self._cells.items()}

    def _update_child_widgets(self) -> None:
        for widget, rect in self.cells().items():
            widget.size = rect.size
            widget.pos = rect.pos
