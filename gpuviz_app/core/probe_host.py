"""The probes of one source's runs: made, configured, asked, run and closed in one place.

Any source that computes payloads itself (the built-in trainer's session, a user's script on
the training thread, a script in another process) needs the same handling: fresh probes for
each run from its `RunContext`, the views' options kept across runs, one-off actions, telling
probes whether they are on screen, and numbered payloads. Whether a probe runs is decided
by the `ProbeDemand` only. Torch-free: the probes bring torch in when they are made.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping

from gpuviz_app.core.probe_demand import ProbeDemand
from gpuviz_app.core.probes import Probe, ProbeFactory

log = logging.getLogger(__name__)


class ProbeHost:
    """Owns the probes of the current run and their latest payloads.

    `parts[name]` is the newest payload of each probe and `versions[name]` grows at each
    recomputation, so a view uploads only what changed (see `Snapshot`)."""

    def __init__(
        self,
        factories: Mapping[str, ProbeFactory] | None = None,
        demand: ProbeDemand | None = None,
        rest_when_shown: bool = False,
    ) -> None:
        """`rest_when_shown`: the probes of views not on screen are made when `set_shown` is next
        called after the first trained round (a window calls it once it has painted that frame,
        which making them would hold back), not at the round after it."""
        self.factories: dict[str, ProbeFactory] = dict(factories or {})
        self.rest_when_shown = rest_when_shown
        self.demand = demand if demand is not None else ProbeDemand(shown=self.factories)
        self.probes: dict[str, Probe] = {}
        self._context: Any = None
        self._trained_round = False
        self.options: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, Any] = {}
        self.versions: dict[str, int] = {}
        self.closed = True

    # -- runs -------------------------------------------------------------------------------
    def start_run(self, context: Any) -> None:
        """A new run: the old probes close, fresh ones are made, payloads start over and the
        next round runs every shown probe."""
        self.close()
        self.parts, self.versions = {}, {}
        self.demand.new_run()
        self.make(context)

    def make(self, context: Any) -> None:
        """Fresh probes for `context`, with the options the views asked for: those of the views
        on screen now, the others at the round after the first one at step 1 or later (or once
        shown; see `rest_when_shown`), so the first trained snapshot does not wait for probes
        nobody looks at."""
        self.probes = {}
        self._context = context
        self._trained_round = False
        self.closed = False
        self._make(self.demand.shown)

    def _make(self, names: Iterable[str]) -> None:
        for name in sorted(set(names) & self.factories.keys() - self.probes.keys()):
            probe = self.probes[name] = self.factories[name](self._context)
            self.demand.track(name, probe.budget * getattr(self._context, "budget_scale", 1.0))
            if name in self.options:
                probe.configure(dict(self.options[name]))
            probe.set_shown(name in self.demand.shown)

    @property
    def unmade(self) -> set[str]:
        """Probes of the current run still to be made."""
        return set() if self.closed else self.factories.keys() - self.probes.keys()

    def make_rest(self) -> None:
        """Make the current run's probes that are still to be made, now (synchronous use)."""
        self._make(self.unmade)

    def close(self) -> None:
        """Let the probes stop what they started (hooks, background threads)."""
        for probe in self.probes.values():
            try:
                probe.close()
            except Exception:  # noqa: BLE001 - closing must not hide the reason a run stopped
                log.exception("closing a probe failed")
        self.probes = {}
        self._context = None
        self.closed = True

    # -- what the views ask -----------------------------------------------------------------
    def set_shown(self, names: Iterable[str]) -> None:
        """Probes that work between snapshots (the weights tracker) learn whether their view
        is on screen, so they can stop paying for it while hidden."""
        self.demand.set_shown(names)
        if not self.closed:
            self._make(self.demand.shown)
            if self.rest_when_shown and self._trained_round:
                self.make_rest()
        self._tell_shown()

    def _tell_shown(self) -> None:
        for name, probe in self.probes.items():
            probe.set_shown(name in self.demand.shown)

    def configure(self, name: str, options: Mapping[str, Any]) -> None:
        """Merge `options` into the probe's kept options and pass them to the live probe."""
        self.options[name] = {**self.options.get(name, {}), **options}
        probe = self.probes.get(name)
        if probe is not None:
            probe.configure(dict(options))

    def act(self, name: str, action: str) -> None:
        probe = self.probes.get(name)
        if probe is not None:
            probe.act(action)

    def settle(self, context: Any, timeout: float | None = None, final: bool = False) -> bool:
        """Shown probes finish their background work, so the next payloads do not depend on timing
        (`final`: on the weights as they are now; see `Probe.settle`). True when all finished."""
        done = True
        for name in sorted(self.demand.shown & self.probes.keys()):
            done = self.probes[name].settle(context, timeout, final=final) is not False and done
        return done

    # -- payloads ---------------------------------------------------------------------------
    def put(self, name: str, payload: Any) -> None:
        """A payload made outside the probes (a distributed job's merged figures), published
        and numbered with theirs until the next run starts."""
        self.parts[name] = payload
        self.versions[name] = self.versions.get(name, 0) + 1

    def collect(self, context: Any) -> bool:
        """Run the probes the demand says are due; True when any payload was recomputed."""
        demand = self.demand
        ran = False
        if self._trained_round and not self.rest_when_shown:  # the first trained snapshot is published
            self.make_rest()
        try:
            for name in sorted(self.probes):
                if not demand.due(name, demand.clock()):
                    continue
                start = demand.clock()
                self.parts[name] = self.probes[name](context)
                demand.ran(name, start, demand.clock())
                self.versions[name] = self.versions.get(name, 0) + 1
                ran = True
        finally:
            demand.round_done()
        self._trained_round = self._trained_round or context.step >= 1
        return ran
