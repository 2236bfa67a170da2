"""What the plots' small visuals share: a transform into the view, nothing to draw while empty,
and no bounds of their own (a plot sets its camera's range itself)."""

from __future__ import annotations

from vispy.visuals import Visual


class PlainVisual(Visual):
    """A visual of `count` vertices in the coordinates of the view it is drawn in."""

    count = 0

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view) -> bool | None:
        return False if self.count == 0 else None

    def _compute_bounds(self, axis: int, view):
        return None
