"""`--views all` lays every view out readable: a grid of docks, option rows that wrap, not cut."""

from __future__ import annotations

import pytest
from PySide6 import QtCore

from gpuviz_app.core.view_names import VIEW_NAMES
from gpuviz_app.render.upload import HostUpload
from gpuviz_app.render.views import make_view
from gpuviz_app.ui.panels import ViewPanel
from tests.ui.conftest import wait_frame


def clipped_options(panel) -> list[str]:
    """Option widgets narrower than they ask to be, or reaching past the panel's edge."""
    bad = []
    for key, widget in panel.option_widgets.items():
        rect = QtCore.QRect(widget.mapTo(panel, QtCore.QPoint(0, 0)), widget.size())
        if not widget.isVisible() or widget.width() < widget.sizeHint().width() or not panel.rect().contains(rect):
            bad.append(f"{key} {rect.getRect()} in {panel.width()}x{panel.height()}")
    return bad


def test_all_views_get_a_readable_cell_of_a_grid(main_window, qtbot):
    window = main_window("--device", "cpu", "--views", "all", "--steps", "0", show=False)
    window.resize(1600, 1000)
    window.show()
    qtbot.waitExposed(window)
    wait_frame(qtbot, window, lambda snap: snap.finished, 120_000)  # the docks' canvases come after it
    qtbot.waitUntil(lambda: all(window.panels[n].has_canvas for n in VIEW_NAMES), timeout=120_000)
    qtbot.wait(200)
    assert window.shown_views() == set(VIEW_NAMES)
    cells = {"metrics": window.centralWidget().geometry()}
    cells.update({name: dock.geometry() for name, dock in window.docks.items()})
    for name, panel in window.panels.items():
        canvas = panel.canvas.native
        assert canvas.width() >= 300 and canvas.height() >= 200, f"{name}: {canvas.width()}x{canvas.height()}"
        assert not clipped_options(panel), clipped_options(panel)
    names = list(cells)
    for i, a in enumerate(names):  # side by side, none behind another
        for b in names[i + 1:]:
            assert not cells[a].intersects(cells[b]), f"{a} {cells[a]} overlaps {b} {cells[b]}"
    # two columns: the views do not share one narrow column
    lefts = sorted({rect.left() for rect in cells.values()})
    assert len(lefts) == 2 and all(rect.width() >= 600 for rect in cells.values())


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_a_narrow_panel_wraps_its_option_row(qtbot, name):
    panel = ViewPanel([make_view(name)], HostUpload())
    qtbot.addWidget(panel)
    panel.resize(320, 600)
    panel.show()
    qtbot.waitExposed(panel)
    assert not clipped_options(panel), clipped_options(panel)
    if panel.canvas is not None:
        panel.canvas.close()


def test_a_screen_too_small_for_the_grid_gets_tabs(main_window, qtbot, monkeypatch):
    from gpuviz_app.ui import window_state

    monkeypatch.setattr(window_state, "MIN_CELL", (5000, 5000))  # no screen has room for this grid
    window = main_window("--device", "cpu", "--views", "all", "--steps", "0")
    docks = list(window.docks.values())
    assert {window.dockWidgetArea(d) for d in docks} == {QtCore.Qt.DockWidgetArea.RightDockWidgetArea}
    assert set(window.tabifiedDockWidgets(docks[0])) == set(docks[1:])
    assert window.shown_views() == {"metrics", "weights"}  # one tab in front, the others behind it
