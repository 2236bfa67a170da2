"""The plot grid shares its space evenly: equal rows, equal columns, a spanning cell as wide as
the columns and gaps it covers, and a cell removed gives its space back."""

from __future__ import annotations

import pytest
from vispy import scene

from gpuviz_app.render.even_grid import EvenGrid


@pytest.fixture
def canvas(egl_app):
    made = scene.SceneCanvas(size=(400, 300), app=egl_app, show=False)
    yield made
    made.close()


def test_cells_share_the_space_evenly_and_a_span_covers_its_gaps(canvas):
    grid = canvas.central_widget.add_widget(EvenGrid(spacing=4, margin=2))
    a, b, c = (grid.add_cell(scene.Widget(), row, col, span) for row, col, span in ((0, 0, 1), (0, 1, 1), (1, 0, 2)))
    inner_w, inner_h = 400 - 4, 300 - 4  # the margin on either side
    w, h = (inner_w - 4) / 2, (inner_h - 4) / 2
    assert tuple(a.pos) == (0, 0) and tuple(a.size) == pytest.approx((w, h))
    assert tuple(b.pos) == pytest.approx((w + 4, 0)) and tuple(b.size) == pytest.approx((w, h))
    assert tuple(c.pos) == pytest.approx((0, h + 4)) and tuple(c.size) == pytest.approx((inner_w, h))
    canvas.central_widget.size = (600, 300)  # a resize lays the cells out again
    assert tuple(c.size) == pytest.approx((600 - 4, h))


def test_a_removed_cell_gives_its_space_back(canvas):
    grid = canvas.central_widget.add_widget(EvenGrid(spacing=4, margin=2))
    top = grid.add_cell(scene.Widget(), 0, 0)
    bottom = grid.add_cell(scene.Widget(), 1, 0)
    assert tuple(top.size) == pytest.approx((396, (296 - 4) / 2))
    grid.remove_widget(bottom)
    assert bottom.parent is None and tuple(top.size) == pytest.approx((396, 296))  # one cell: no gap
