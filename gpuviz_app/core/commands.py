"""Commands to a run source: small frozen dataclasses, queued from any thread.

A source applies them in the order they were sent, on its own thread, between steps. They
carry plain values only (no torch), so the window builds them before torch has loaded, and
a source in another process could receive them as they are. `CommandMethods` gives every
source the same convenience methods, each a one-liner that sends one command.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping, Union


@dataclass(frozen=True)
class SetPaused:
    """Stop or resume training (probes still answer commands while paused)."""

    paused: bool


@dataclass(frozen=True)
class StepOnce:
    """Pause, then train exactly `steps` more steps."""

    steps: int = 1


@dataclass(frozen=True)
class Reset:
    """Start the run afresh with the same configuration and data."""


@dataclass(frozen=True)
class Configure:
    """Change the training configuration: lr, batch size, optimiser and augmentation live;
    a model or seed change starts a new run (on failure the current run carries on)."""

    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SetDataset:
    """Train on another dataset: a new run."""

    dataset: Any


@dataclass(frozen=True)
class SetShownProbes:
    """The probes whose views are on screen; only they are computed."""

    names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ConfigureProbe:
    """A view's options for its probe; kept for the probes of later runs too."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeAction:
    """A one-off request for a probe (e.g. the landscape's "recentre"), passed to its `act`."""

    name: str
    action: str


Command = Union[SetPaused, StepOnce, Reset, Configure, SetDataset, SetShownProbes, ConfigureProbe, ProbeAction]


class CommandMethods(ABC):
    """The convenience methods callers use, all built on `send`."""

    @abstractmethod
    def send(self, command: Command) -> None:
        """Queue `command`; any thread, never waits."""

    def set_paused(self, paused: bool) -> None:
        self.send(SetPaused(bool(paused)))

    def step_once(self, steps: int = 1) -> None:
        self.send(StepOnce(int(steps)))

    def reset(self) -> None:
        self.send(Reset())

    def configure(self, **changes: Any) -> None:
        """Change lr, batch_size, optimizer or augment in place; model or seed restart the run."""
        self.send(Configure(dict(changes)))

    def set_dataset(self, dataset: Any) -> None:
        self.send(SetDataset(dataset))

    def set_active_probes(self, names: set[str] | frozenset[str]) -> None:
        self.send(SetShownProbes(frozenset(names)))

    def configure_probe(self, name: str, options: Mapping[str, Any]) -> None:
        """Options for one probe (kept for the probes of later runs too)."""
        self.send(ConfigureProbe(name, dict(options)))

    def probe_action(self, name: str, action: str) -> None:
        self.send(ProbeAction(name, action))
