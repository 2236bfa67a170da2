"""What every View provides: build into a VisPy widget, update from a snapshot, nothing about Qt.

A View declares its settings once, as `Option`s, and its one-off requests as `Action`s.
Everything else is derived from those declarations: the defaults, the checks applied to
restored settings, what the probe is sent, and the controls a host (the window's panel)
builds for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

from vispy import scene

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.upload import UploadPath

CHECK, CHOICE = "check", "choice"  # the kinds of control a host builds for an option


@dataclass(frozen=True, eq=False)
class Option:
    """One setting of a view: its default, the values it may take, how it is shown, and
    whether (and how) the view's probe receives it.

    `probe=True` sends the value to the probe under `probe_key` (default: the option's
    name), converted by `to_probe` where the probe wants another form.
    """

    name: str
    default: Any
    choices: tuple[Any, ...] = ()
    label: str = ""
    choice_labels: Mapping[Any, str] = field(default_factory=dict)
    probe: bool = False
    probe_key: str = ""
    to_probe: Callable[[Any], Any] | None = None

    @property
    def control(self) -> str | None:
        """CHECK for a boolean, CHOICE for a fixed set of values, None when the host needs a
        control of its own for it (a free text, a list known only at run time)."""
        if isinstance(self.default, bool):
            return CHECK
        return CHOICE if self.choices else None

    @property
    def text(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def choice_text(self, choice: Any) -> str:
        return self.choice_labels.get(choice, str(choice))

    def accepts(self, value: Any) -> bool:
        """Whether `value` is a valid setting (restored settings may be stale or edited)."""
        kind = type(self.default)
        if isinstance(value, bool) != (kind is bool):
            return False
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind):
            return False
        return not self.choices or value in self.choices

    def for_probe(self, value: Any) -> tuple[str, Any]:
        """The (key, value) the probe receives for this setting."""
        return self.probe_key or self.name, self.to_probe(value) if self.to_probe else value


@dataclass(frozen=True)
class Action:
    """A one-off request a view's probe acts on (a button, not a setting)."""

    name: str
    label: str


class View:
    """One concern shown (metrics, weights, ...).

    `attach` builds the View's visuals inside `parent`; `update` writes what changed in
    `snapshot` into GL objects the View owns through `upload`, returning whether a redraw
    is needed. Options are plain JSON-ready values so any host can persist them.
    """

    name: ClassVar[str] = "view"
    title: ClassVar[str] = "View"
    render_size: ClassVar[tuple[int, int]] = (800, 500)
    probe: ClassVar[str | None] = None  # the snapshot part this view reads, if any
    OPTIONS: ClassVar[tuple[Option, ...]] = ()
    ACTIONS: ClassVar[tuple[Action, ...]] = ()

    def __init__(self) -> None:
        self.parent: scene.Widget | None = None
        self._run_id = -1
        self._options: dict[str, Any] = self.default_options()

    # -- options, all derived from OPTIONS ----------------------------------------------------
    @classmethod
    def option(cls, name: str) -> Option:
        for option in cls.OPTIONS:
            if option.name == name:
                return option
        raise KeyError(f"{cls.name} has no option {name!r}")

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {option.name: option.default for option in cls.OPTIONS}

    def options(self) -> dict[str, Any]:
        return dict(self._options)

    def set_options(self, options: Mapping[str, Any]) -> None:
        """Apply the valid options; unknown keys, wrong types and values outside an option's
        choices are ignored (stale settings keep the current value)."""
        for option in self.OPTIONS:
            if option.name in options and option.accepts(options[option.name]):
                value = options[option.name]
                self._options[option.name] = float(value) if isinstance(option.default, float) else value
        self.options_changed()

    def set_option(self, key: str, value: Any) -> None:
        self.set_options({key: value})

    def probe_options(self) -> dict[str, Any] | None:
        """What this view asks of its probe (sent to the probe's `configure`), or None when no
        option concerns the probe."""
        sent = dict(option.for_probe(self._options[option.name]) for option in self.OPTIONS if option.probe)
        return sent or None

    def options_changed(self) -> None:
        """Called after options changed; views re-apply them at the next update."""

    # -- drawing ------------------------------------------------------------------------------
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
