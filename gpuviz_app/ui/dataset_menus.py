"""The dataset entries of the File menu (Open, Open Folder, Open Recent, Built-in datasets) and the
Data menu (augmentation, image size).

`actions` is the window's `DatasetActions` (not imported here: it builds these menus); the menus
call its `open`, `open_files`, `open_folder`, `recent`, `clear_recent`, `set_augment` and
`set_image_max_side`, and read its `image_max_side`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtGui, QtWidgets

from gpuviz_app.core.config import AUGMENTATIONS

IMAGE_SIDES = (32, 64, 96, 128)
AUGMENT_LABELS = {"off": "Off", "shift": "Random shifts", "shift+flip": "Random shifts and flips"}


def build_menus(window: QtWidgets.QMainWindow, file_menu: QtWidgets.QMenu, actions: Any, augment: str) -> None:
    """Insert the dataset entries at the top of `file_menu` and a Data menu after it; `augment`
    is the augmentation in use."""
    first = file_menu.actions()[0] if file_menu.actions() else None
    items: list[QtGui.QAction] = []

    open_action = QtGui.QAction("&Open Dataset…", window)
    open_action.setShortcut(QtGui.QKeySequence.StandardKey.Open)
    open_action.triggered.connect(actions.open_files)
    items.append(open_action)
    folder_action = QtGui.QAction("Open Dataset &Folder…", window)
    folder_action.setShortcut(QtGui.QKeySequence("Ctrl+Shift+O"))
    folder_action.triggered.connect(actions.open_folder)
    items.append(folder_action)

    recent = QtWidgets.QMenu("Open &Recent", window)
    recent.setObjectName("menu-recent")
    recent.aboutToShow.connect(lambda: fill_recent(recent, actions))
    items.append(recent.menuAction())
    actions.recent_menu = recent

    builtins = QtWidgets.QMenu("&Built-in Datasets", window)
    builtins.setObjectName("menu-builtins")
    from gpuviz_app.data.builtin import BUILTINS, TITLES

    for name in BUILTINS:
        action = builtins.addAction(TITLES.get(name, name))
        action.setData(f"builtin:{name}")
        action.triggered.connect(lambda _c=False, n=name: actions.open(f"builtin:{n}"))
    items.append(builtins.menuAction())
    actions.builtin_menu = builtins

    separator = QtGui.QAction(window)
    separator.setSeparator(True)
    items.append(separator)
    if first is None:
        file_menu.addActions(items)
    else:
        file_menu.insertActions(first, items)

    data_menu = QtWidgets.QMenu("&Data", window)
    data_menu.setObjectName("menu-data")
    augment = data_menu.addMenu("&Augment Images")
    group = QtGui.QActionGroup(augment)
    actions.augment_actions = {}
    for mode in AUGMENTATIONS:
        action = augment.addAction(AUGMENT_LABELS.get(mode, mode))
        action.setCheckable(True)
        action.setChecked(mode == augment)
        group.addAction(action)
        action.triggered.connect(lambda _c=False, m=mode: actions.set_augment(m))
        actions.augment_actions[mode] = action
    size = data_menu.addMenu("Image &Size Limit")
    sizes = QtGui.QActionGroup(size)
    for side in IMAGE_SIDES:
        action = size.addAction(f"{side} px (longer side)")
        action.setCheckable(True)
        action.setChecked(side == actions.image_max_side)
        sizes.addAction(action)
        action.triggered.connect(lambda _c=False, s=side: actions.set_image_max_side(s))
    bar = window.menuBar()
    after = _action_after(bar, file_menu.menuAction())
    if after is None:
        bar.addMenu(data_menu)
    else:
        bar.insertMenu(after, data_menu)
    actions.data_menu = data_menu


def _action_after(bar: QtWidgets.QMenuBar, action: QtGui.QAction) -> QtGui.QAction | None:
    items = bar.actions()
    if action in items and items.index(action) + 1 < len(items):
        return items[items.index(action) + 1]
    return None


def fill_recent(menu: QtWidgets.QMenu, actions: Any) -> None:
    menu.clear()
    entries = actions.recent()
    for entry in entries:
        paths = entry if isinstance(entry, list) else [entry]
        label = " + ".join(Path(p).name for p in paths)
        action = menu.addAction(label)
        action.setToolTip(" + ".join(paths))
        action.setStatusTip(" + ".join(paths))
        action.triggered.connect(lambda _c=False, e=entry: actions.open(e))
    if not entries:
        empty = menu.addAction("(none yet)")
        empty.setEnabled(False)
    menu.addSeparator()
    clear = menu.addAction("Clear Recent")
    clear.setEnabled(bool(entries))
    clear.triggered.connect(actions.clear_recent)
