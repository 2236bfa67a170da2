"""What the window's frame loop and the recorders use of a run source (see `RunSource`).

A protocol rather than a base class to inherit from, so that `core` (where the built-in
trainer's `TrainingSession` lives) never imports this package: a source satisfies it by
having the members. Sources built here usually inherit `CommandMethods` for the
convenience methods and `ProbeHost` for computing payloads themselves.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

from gpuviz_app.core.commands import Command
from gpuviz_app.core.mailbox import Mailbox
from gpuviz_app.core.snapshot import Snapshot


@runtime_checkable
class RunSource(Protocol):
    """A producer of `Snapshot`s that takes commands.

    `run` is the source's loop, called on a worker thread (training, reading a socket or a
    store); it returns once `stop` was called. The consumer takes the newest snapshot from
    `mailbox` at display rate and never waits for the source, nor the source for it. A
    command a source cannot honour (a stored run cannot change its learning rate) is ignored.
    """

    mailbox: Mailbox[Snapshot]

    def send(self, command: Command) -> None:
        """Queue a command (any thread); applied in the order sent."""
        ...

    def pace_probes(self) -> None:
        """From now on compute probe payloads only when asked with `want_probes`."""
        ...

    def want_probes(self) -> None:
        """The display will draw soon: the next snapshot may carry fresh payloads."""
        ...

    def run(self) -> None:
        ...

    def stop(self) -> None:
        ...

    @property
    def stopped(self) -> bool:
        ...

    # one-liners over `send` (see `gpuviz_app.core.commands.CommandMethods`)
    def set_paused(self, paused: bool) -> None:
        ...

    def step_once(self, steps: int = 1) -> None:
        ...

    def reset(self) -> None:
        ...

    def configure(self, **changes: Any) -> None:
        ...

    def set_dataset(self, dataset: Any) -> None:
        ...

    def set_active_probes(self, names: set[str] | frozenset[str]) -> None:
        ...

    def configure_probe(self, name: str, options: Mapping[str, Any]) -> None:
        ...

    def probe_action(self, name: str, action: str) -> None:
        ...
