"""What a view's own Qt controls provide, for the options a check box or a combo box cannot
show (a free text, a list known only once a run started)."""

from __future__ import annotations

from typing import Any, Callable

from PySide6 import QtWidgets

from gpuviz_app.render.views.base import View


class ViewControls(QtWidgets.QWidget):
    """A row of controls for one view, shown under the panel's row of declared options.

    `set_option(key, value)` changes the view's option the way the panel's own controls do
    (the window saves it and tells the probe); `redraw()` asks for a repaint.
    """

    def __init__(self, view: View, set_option: Callable[[str, Any], None], redraw: Callable[[], None],
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self._set_option = set_option
        self._redraw = redraw

    def sync(self) -> None:
        """Show the view's current options (after settings were restored)."""

    def probe_widgets(self) -> list[QtWidgets.QWidget]:
        """The controls of settings only a running probe acts on (of no use on a stored run)."""
        return []
