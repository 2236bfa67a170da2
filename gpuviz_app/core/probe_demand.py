"""Whether a probe runs now: the one place that decides it (see `ProbeDemand`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

DEFAULT_MIN_INTERVAL_S = 1 / 30
PAUSE_FACTOR = 20.0  # a step this many times as long as the typical step, and ...
PAUSE_MIN_S = 0.25  # ... longer than this, spans a pause


def forgone_if_within(spent: float, forgone: float, allowed: float) -> float | None:
    """Whether spending may go on, having spent `spent` of an `allowed` share and let `forgone`
    go: the budget let go from now on (what is left unused is not saved up), or None when over."""
    if spent + forgone > allowed:
        return None
    return allowed - spent


class TrainingTime:
    """What a step's time counts for in the budgets, which are shares of the training's time. A
    step far longer than the typical one spans a pause (the process stopped or in a debugger,
    a checkpoint or an evaluation between two steps) and counts as a typical step: had it
    counted whole, every budgeted probe would come due at once when training resumes, costing
    the next steps what the pause could not (a job's leader: every rank waits for it)."""

    def __init__(self) -> None:
        self.typical: float | None = None  # the steps' time, smoothed (pauses left out)

    def count(self, seconds: float) -> float:
        """The part of a step of `seconds` that is training."""
        typical = self.typical
        if typical is not None and seconds > PAUSE_MIN_S and seconds > PAUSE_FACTOR * typical:
            return typical
        self.typical = seconds if typical is None else 0.9 * typical + 0.1 * seconds
        return seconds


@dataclass
class ProbeAccount:
    """What one probe may spend and has spent in this run."""

    budget: float
    min_interval_s: float
    spent: float = 0.0
    forgone: float = 0.0  # budget left unused and not saved up (see `ProbeDemand.due`)
    last_run: float | None = None


class ProbeDemand:
    """Holds everything that decides whether a probe runs, and answers `due(name, now)`.

    - shown: only probes whose view is on screen run (a hidden view costs nothing);
    - forced: after a new run, a command while idle, or a synchronous `advance`, every shown
      probe runs once whatever its budget, so the next snapshot is complete;
    - paced: once `pace()` is called, probes run only after the display said it will draw
      (`want()`); a display drawing once a second would otherwise get payloads it never shows,
      each paid for by training. One request is served by one round of payloads;
    - budget: a probe runs only while the time it has spent stays under its `budget` times
      the time spent training, so a costly view slows its own refresh, never the training.
      A step that spans a pause counts as a typical step (`TrainingTime`). Budget left unused
      is not saved up: after the display did not ask for a while, a probe runs once, not back
      to back until its account is even;
    - minimum interval: never twice within `min_interval_s`.

    `clock` is the time source for the accounts (a test may pass a fake one). `want` may be
    called from any thread; everything else runs on the source's thread.
    """

    def __init__(
        self,
        shown: Iterable[str] = (),
        min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.clock = clock
        self.min_interval_s = min_interval_s
        self.shown: frozenset[str] = frozenset(shown)
        self.train_time = 0.0
        self._training = TrainingTime()
        self._accounts: dict[str, ProbeAccount] = {}
        self._forced = False
        self._paced = False
        self._wanted = threading.Event()
        self._served = False

    # -- what is asked for ----------------------------------------------------------------
    def set_shown(self, names: Iterable[str]) -> None:
        self.shown = frozenset(names)

    def pace(self) -> None:
        """From now on, unforced runs wait for `want`."""
        self._paced = True

    @property
    def paced(self) -> bool:
        return self._paced

    def want(self) -> None:
        """The display will draw soon: the next round may compute fresh payloads (any thread)."""
        self._wanted.set()

    @property
    def wanted(self) -> bool:
        return not self._paced or self._wanted.is_set()

    def force(self) -> None:
        """Every shown probe runs in the next round, budget and pacing aside."""
        self._forced = True

    @property
    def forced(self) -> bool:
        return self._forced

    # -- accounts -------------------------------------------------------------------------
    def track(self, name: str, budget: float, min_interval_s: float | None = None) -> None:
        """Start accounting for a probe of this run (what it spent before is forgotten)."""
        interval = self.min_interval_s if min_interval_s is None else min_interval_s
        self._accounts[name] = ProbeAccount(budget=budget, min_interval_s=interval)

    def new_run(self) -> None:
        """A new run: accounts start empty and the first round is forced."""
        self._accounts.clear()
        self.train_time = 0.0
        self._training = TrainingTime()
        self.force()

    def add_training_time(self, seconds: float) -> float:
        """One step's time between the source's calls; returns what of it counts as training
        (a step that spans a pause counts as a typical one, see `TrainingTime`)."""
        counted = self._training.count(seconds)
        self.train_time += counted
        return counted

    def budget(self, name: str) -> float:
        """The share of the training time the probe may spend in this run (0 when not tracked)."""
        account = self._accounts.get(name)
        return account.budget if account is not None else 0.0

    def spent(self, name: str) -> float:
        account = self._accounts.get(name)
        return account.spent if account is not None else 0.0

    # -- the decision ---------------------------------------------------------------------
    def due(self, name: str, now: float | None = None) -> bool:
        """Whether the probe `name` should run in this round."""
        if name not in self.shown:
            return False
        if self._forced:
            return True
        if not self.wanted:
            return False
        account = self._accounts.get(name)
        if account is None or account.last_run is None:
            return True
        now = self.clock() if now is None else now
        if now - account.last_run < account.min_interval_s:
            return False
        forgone = forgone_if_within(account.spent, account.forgone, account.budget * self.train_time)
        if forgone is None:
            return False
        account.forgone = forgone
        return True

    def ran(self, name: str, start: float, end: float) -> None:
        """The probe ran from `start` to `end` (times of `clock`)."""
        account = self._accounts.get(name)
        if account is None:
            account = self._accounts[name] = ProbeAccount(budget=0.0, min_interval_s=self.min_interval_s)
        account.spent += end - start
        account.last_run = end
        if not self._forced:
            self._served = True

    def round_done(self) -> None:
        """End of a round: a forced round is over, and a served request is cleared."""
        self._forced = False
        if self._served:
            self._wanted.clear()
            self._served = False
