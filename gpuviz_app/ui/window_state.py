"""What the window remembers between launches: geometry, dock layout and each view's options.

A scripted run (`--quit-when-done`) neither reads nor writes the layout the user arranged; the
caller decides that. Corrupt saved state falls back to the default layout.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from PySide6 import QtCore, QtWidgets

from gpuviz_app.ui import settings as store

DOCK_SHARE = 0.45  # of the window's width, for the docked views when no layout was saved
RIGHT = QtCore.Qt.DockWidgetArea.RightDockWidgetArea
BOTTOM = QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
# A view's readable minimum with its title bar and option rows, and the window's menus, toolbar
# and status bar: what `--views` needs of the screen to lay views out in a grid rather than tabs.
MIN_CELL = (480, 320)
CHROME_HEIGHT = 120


def restore_layout(window: QtWidgets.QMainWindow, docks: Mapping[str, QtWidgets.QDockWidget]) -> None:
    """The saved geometry and dock layout, else the default layout."""
    geometry = store.load_bytes("window/geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    state = store.load_bytes("window/state")
    if state is None or not window.restoreState(state):
        share_width(window, list(docks.values()))


def restore_view_options(panels: Iterable[Any]) -> None:
    """Each view's saved options (invalid ones fall back to the view's defaults), shown in its panel."""
    for panel in panels:
        for view in panel.views:
            view.set_options(store.load_json(f"views/{view.name}", {}))
        panel.sync_option_widgets()


def save_view_options(view: Any) -> None:
    store.save_json(f"views/{view.name}", view.options())


def save_layout(window: QtWidgets.QMainWindow, panels: Iterable[Any]) -> None:
    store.save_bytes("window/geometry", window.saveGeometry())
    store.save_bytes("window/state", window.saveState())
    for panel in panels:
        for view in panel.views:
            save_view_options(view)
    store.settings().sync()


def show_side_by_side(window: QtWidgets.QMainWindow, docks: Mapping[str, QtWidgets.QDockWidget],
                      names: Iterable[str]) -> None:
    """Open the docks of `names` in a grid of two columns with the central view (no tabs): the
    right column holds the first half, the rest sit under the central view; close the others.
    Where the screen cannot give each view its readable minimum in that grid, the docks are
    tabs in the right column instead."""
    names = set(names)
    shown = [dock for name, dock in docks.items() if name in names]
    for dock in docks.values():
        window.removeDockWidget(dock)
    window.setCorner(QtCore.Qt.Corner.BottomRightCorner, RIGHT)  # the right column runs full height
    window.setCorner(QtCore.Qt.Corner.TopRightCorner, RIGHT)
    rows = (len(shown) + 2) // 2  # the central view counts as one cell of the grid
    fits = _grid_fits(window, rows)
    right, below = (shown[:rows], shown[rows:]) if fits else (shown, [])
    _stack(window, RIGHT, right, tabbed=not fits)
    _stack(window, BOTTOM, below, tabbed=False)
    for name, dock in docks.items():
        if name not in names:
            window.addDockWidget(RIGHT, dock)
            dock.hide()
    share_grid(window, right if fits else right[:1], below)
    QtCore.QTimer.singleShot(0, window, lambda: share_grid(window, right if fits else right[:1], below))


def _stack(window: QtWidgets.QMainWindow, area: QtCore.Qt.DockWidgetArea, shown: list[QtWidgets.QDockWidget],
           tabbed: bool) -> None:
    for i, dock in enumerate(shown):
        if i == 0:
            window.addDockWidget(area, dock)
        elif tabbed:
            window.tabifyDockWidget(shown[0], dock)
        else:
            window.splitDockWidget(shown[i - 1], dock, QtCore.Qt.Orientation.Vertical)
        dock.show()
    if tabbed and shown:
        shown[0].raise_()


def _grid_fits(window: QtWidgets.QMainWindow, rows: int) -> bool:
    """Whether the screen has room for `rows` rows of two readable views (see `MIN_CELL`)."""
    screen = window.screen()
    if screen is None:
        return True
    room = screen.availableGeometry()
    return room.width() >= 2 * MIN_CELL[0] and room.height() >= rows * MIN_CELL[1] + CHROME_HEIGHT


def share_grid(window: QtWidgets.QMainWindow, right: list[QtWidgets.QDockWidget],
               below: list[QtWidgets.QDockWidget]) -> None:
    """Half the window's width to the right column; the right column's rows, and the central
    view with the docks under it, of equal height."""
    if right:
        window.resizeDocks(right[:1], [window.width() // 2], QtCore.Qt.Orientation.Horizontal)
        column = sum(d.height() for d in right)
        window.resizeDocks(right, [column // len(right)] * len(right), QtCore.Qt.Orientation.Vertical)
    if below:
        column = window.centralWidget().height() + sum(d.height() for d in below)
        window.resizeDocks(below, [column // (len(below) + 1)] * len(below), QtCore.Qt.Orientation.Vertical)


def share_width(window: QtWidgets.QMainWindow, docks: list[QtWidgets.QDockWidget]) -> None:
    """Give the right dock column DOCK_SHARE of the window, the rest to the central view."""
    if docks:
        window.resizeDocks(docks[:1], [int(window.width() * DOCK_SHARE)], QtCore.Qt.Orientation.Horizontal)
