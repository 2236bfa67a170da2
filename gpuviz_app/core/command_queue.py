"""The half of a run source that takes commands: a queue any thread fills, drained in order on
the source's own thread, and the handlers every source shares (pause, single steps, which
probes are shown, probe options and actions). A source adds handlers for the commands it can
honour (the built-in session: reset, configure, a new dataset) and declares the rest ignored."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from gpuviz_app.core.commands import (
    Command,
    CommandMethods,
    ConfigureProbe,
    ProbeAction,
    SetPaused,
    SetShownProbes,
    StepOnce,
)
from gpuviz_app.core.probe_demand import ProbeDemand
from gpuviz_app.core.probe_host import ProbeHost

log = logging.getLogger(__name__)


class CommandQueue(CommandMethods):
    """Subclasses set `demand` and `probe_host` and may add to `_handlers`."""

    demand: ProbeDemand
    probe_host: ProbeHost

    def __init__(self) -> None:
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.paused = False
        self._single_steps = 0
        self._handlers: dict[type, Callable[[Any], None]] = {
            SetPaused: self._set_paused,
            StepOnce: self._step_once,
            SetShownProbes: lambda c: self.probe_host.set_shown(c.names),
            ConfigureProbe: lambda c: self.probe_host.configure(c.name, c.options),
            ProbeAction: lambda c: self.probe_host.act(c.name, c.action),
        }

    # -- any thread -----------------------------------------------------------------------
    def send(self, command: Command) -> None:
        """Queue one command; the source applies commands in the order they were sent."""
        if type(command) not in self._handlers:
            raise TypeError(f"not a command this source takes: {command!r}")
        self._commands.put(command)
        self._wake.set()

    def pace_probes(self) -> None:
        """From now on, probes run (besides the forced runs on a new run or a command) only
        when the display asks with `want_probes` (see `ProbeDemand`)."""
        self.demand.pace()

    def want_probes(self) -> None:
        """The display will draw soon: the next snapshot may carry fresh probe payloads."""
        self.demand.want()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- the source's thread ----------------------------------------------------------------
    def _drain_commands(self) -> bool:
        """Apply the queued commands in order; True when there were any."""
        dirty = False
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return dirty
            dirty = True
            self._handlers[type(command)](command)

    def _ignore(self, command: Command) -> None:
        log.info("%s cannot honour %s; ignored", type(self).__name__, type(command).__name__)

    def _set_paused(self, command: SetPaused) -> None:
        self.paused = command.paused

    def _step_once(self, command: StepOnce) -> None:
        self.paused = True
        self._single_steps += command.steps
