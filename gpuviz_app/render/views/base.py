"""What every View provides: build into a VisPy widget, update from a snapshot, nothing about Qt."""

from __future__ import annotations

from typing import Any

from vispy import scene

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.upload import UploadPath


class View:
    """One concern shown (metrics, weights, ...).

    `attach` builds the View's visuals inside `parent`; `update` writes what changed in
    `snapshot` into GL objects the View owns through `upload`, returning whether a redraw
    is needed. Options are plain JSON-ready values so any host can persist them.
    """

    name = "view"
    title = "View"
    render_size: tuple[int, int] = (800, 500)
    probe: str | None = None  # the snapshot part this view reads, if any

    def __init__(self) -> None:
        self.parent: scene.Widget | None = None
        self._run_id = -1
        self._options: dict[str, Any] = dict(self.default_options())

    def default_options(self) -> dict[str, Any]:
        return {}

    def options(self) -> dict[str, Any]:
        return dict(self._options)

    def set_options(self, options: dict[str, Any]) -> None:
        """Apply known options; unknown keys and wrong types are ignored (stale settings)."""
        defaults = self.default_options()
        for key, value in options.items():
            if key in defaults and isinstance(value, type(defaults[key])):
                self._options[key] = value
        self.options_changed()

    def set_option(self, key: str, value: Any) -> None:
        self.set_options({key: value})

    def probe_options(self) -> dict[str, Any] | None:
        """What this view asks of its probe (sent to the probe's `configure`), or None."""
        return None

    def options_changed(self) -> None:
        """Called after options changed; views re-apply them at the next update."""

    def attach(self, parent: scene.Widget) -> None:
        self.parent = parent

    def update(self, snapshot: Snapshot, upload: UploadPath) -> bool:
        raise NotImplementedError

    def new_run(self, snapshot: Snapshot) -> bool:
        """True once per run: lets a view clear state kept from the previous run."""
        if snapshot.run_id != self._run_id:
            self._run_id = snapshot.run_id
            return True
        return False
