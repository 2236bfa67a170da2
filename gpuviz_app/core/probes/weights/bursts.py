"""Tracking in bursts: the weights tracker's step hook held to a share of the training's time.

A run whose probe budgets are scaled down (a distributed job's leader, whose every second of
tracking every other rank waits for) cannot pay the tracker at every step. `BurstTracking`
tracks `BURST_STEPS` consecutive steps (one batch of the tracker's rows: exact histograms and
update norms of each), then leaves a gap until the time the tracker took is back within
`share` of the time spent training. A step that spans a pause (the process stopped, a
checkpoint) counts as a typical step (`probe_demand.TrainingTime`), and time left unused is not
saved up. The columns keep the gaps, as for steps taken while the view is hidden, and say how
many steps each column holds.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from gpuviz_app.core.probe_demand import TrainingTime, forgone_if_within

BURST_STEPS = 32


class BurstTracking:
    """A step hook around `tracker` (`__call__`, `resume`, `flush`, as `WeightTracker`)."""

    def __init__(self, tracker: Any, share: float, burst: int = BURST_STEPS,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.tracker = tracker
        self.share = share
        self.burst = burst
        self.clock = clock
        self.spent = 0.0  # seconds in the tracker (its steps, resumes and flushes)
        self.forgone = 0.0  # its share of the training's time left unused, not saved up
        self.trained = 0.0  # seconds between hook calls: the training's
        self.tracked_steps = 0
        self._left = 0  # steps of the current burst still to track
        self._last_end: float | None = None
        self._training = TrainingTime()

    def restart(self) -> None:
        """Tracking starts over after a pause of the hook (the view was hidden): the next step
        decides afresh, and the time in between is not the training's to count."""
        self._left = 0
        self._last_end = None

    def __call__(self, context: Any) -> None:
        start = self.clock()
        if self._last_end is not None:
            self.trained += self._training.count(start - self._last_end)
        if self._left:
            self.tracker(context)
            self.tracked_steps += 1
            self._left -= 1
            if not self._left:
                self.tracker.flush()
        elif (forgone := forgone_if_within(self.spent, self.forgone, self.share * self.trained)) is not None:
            self.forgone = forgone
            self.tracker.resume()  # the next step's update is measured from the weights now
            self._left = self.burst
        end = self.clock()
        self.spent += end - start
        self._last_end = end
