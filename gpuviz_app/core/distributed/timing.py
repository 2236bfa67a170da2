"""How long each rank waits for the others, and which rank they wait for.

A rank that is slower than the others reaches each collective last, so it waits least there;
the others wait for it. For a model wrapped in `DistributedDataParallel` the wait is measured
in the gradient all-reduce itself, by a communication hook that runs the default all-reduce
and notes when each bucket is launched and when it completes: a step's wait is the span from
its first launch to its last completion. Without DDP the job's own collective is the only
point where ranks meet, and the time blocked there is the wait. Host clocks only: nothing
here reads the device.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

ALLREDUCE = "ddp allreduce"
OWN_GATHER = "gpuviz gather"
STRAGGLER_SPREAD = 0.25  # the waits must differ by more than this share of a step to name a straggler


class AllreduceWaitTimer:
    """A DDP communication hook around the default all-reduce that times its buckets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: float | None = None
        self._last = 0.0

    def register(self, ddp_model: Any) -> bool:
        """Install the hook; False when DDP refuses it (it takes only one, so a model with its own
        hook keeps it, and the job measures the time blocked in its own gather instead)."""
        try:
            ddp_model.register_comm_hook(state=None, hook=self._hook)
        except (RuntimeError, ValueError) as exc:
            log.info("gpuviz: the all-reduce's waiting time cannot be measured (%s); timing gpuviz's own gather", exc)
            return False
        return True

    def _hook(self, state, bucket):  # noqa: ANN001, ANN202 - DDP refuses a hook annotated otherwise than it says
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

        launched = time.perf_counter()
        with self._lock:
            if self._first is None:
                self._first = launched
        future = allreduce_hook(state, bucket)

        def done(fut: Any) -> Any:
            finished = time.perf_counter()
            with self._lock:
                self._last = max(self._last, finished)
            return fut.value()

        return future.then(done)

    def take_step(self) -> float:
        """Seconds the last step spent in the all-reduce (0 when it made none); starts the next."""
        with self._lock:
            first, last = self._first, self._last
            self._first, self._last = None, 0.0
        return last - first if first is not None and last > first else 0.0


def straggler(wait_s: np.ndarray, step_s: np.ndarray) -> int:
    """The rank the others wait for: the one waiting least, when the waits spread by more than
    `STRAGGLER_SPREAD` of a step; else -1."""
    wait_s = np.asarray(wait_s, float)
    step_s = np.asarray(step_s, float)
    if len(wait_s) < 2 or not np.isfinite(wait_s).all() or not np.isfinite(step_s).all():
        return -1
    spread = float(wait_s.max() - wait_s.min())
    if spread > STRAGGLER_SPREAD * float(step_s.mean()) and spread > 0:
        return int(np.argmin(wait_s))
    return -1
