"""View > Display rate: how much CPU the display may take from training, remembered."""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets

from gpuviz_app.ui import settings as store
from gpuviz_app.ui.pacing import DEFAULT_SHARE, DISPLAY_SHARES, FramePacer, budget_override, share_budget

KEY = "display/share"


def saved_share() -> float:
    share = store.load_json(KEY, DEFAULT_SHARE)
    return share if share in {s for _, s in DISPLAY_SHARES} else DEFAULT_SHARE


def install_display_rate(view_menu: QtWidgets.QMenu, pacer: FramePacer) -> QtGui.QActionGroup:
    """A choice of display budgets for `pacer` under the View menu; GPUVIZ_DISPLAY_BUDGET, when
    set, wins for this session and the choice is shown disabled."""
    menu = view_menu.addMenu("Display &rate")
    group = QtGui.QActionGroup(menu)
    group.setExclusive(True)
    override = budget_override()
    current = saved_share()
    pacer.set_base(share_budget(current) if override is None else override)
    for text, share in DISPLAY_SHARES:
        action = menu.addAction(text)
        action.setCheckable(True)
        action.setChecked(share == current)
        action.setData(share)
        action.setEnabled(override is None)
        group.addAction(action)
    if override is not None:
        menu.setToolTip(f"GPUVIZ_DISPLAY_BUDGET={override:g} cores is set")

    def chosen(action: QtGui.QAction) -> None:
        share = float(action.data())
        pacer.set_base(share_budget(share))
        store.save_json(KEY, share)

    group.triggered.connect(chosen)
    return group
