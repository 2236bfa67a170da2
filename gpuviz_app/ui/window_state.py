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
    """Open the docks of `names` one above the other (no tabs), close the rest."""
    names = set(names)
    shown = [dock for name, dock in docks.items() if name in names]
    for dock in docks.values():
        window.removeDockWidget(dock)
    for i, dock in enumerate(shown):
        if i == 0:
            window.addDockWidget(RIGHT, dock)
        else:
            window.splitDockWidget(shown[i - 1], dock, QtCore.Qt.Orientation.Vertical)
        dock.show()
    for name, dock in docks.items():
        if name not in names:
            window.addDockWidget(RIGHT, dock)
            dock.hide()
    share_width(window, shown)


def share_width(window: QtWidgets.QMainWindow, docks: list[QtWidgets.QDockWidget]) -> None:
    """Give the right dock column DOCK_SHARE of the window, the rest to the central view."""
    if docks:
        window.resizeDocks(docks[:1], [int(window.width() * DOCK_SHARE)], QtCore.Qt.Orientation.Horizontal)
