"""How long each rank waits for the others, and which rank they wait for.

A rank that is slower than the others reaches each collective last, so it waits least there;
the others wait for it. For a model wrapped in `DistributedDataParallel` the wait is measured
in the gradient all-reduce itself: a step's wait is the span from its first bucket's launch to
its last bucket's completion. On the CPU, DDP's reducer times exactly that span in C++ on the
iterations it samples, one a window (`DdpStatsWaitTimer`); a Python communication hook doing the same
(`AllreduceWaitTimer`) runs Python on every bucket and a callback on the process group's thread,
which costs a small model's step far more (benchmarks/README.md, "distributed"). For a model on a GPU the reducer's timer reads CUDA
events, which would make the host wait for each step's all-reduce, so there the hook notes host
times instead. Without DDP the job's own collective is the only point where ranks meet, and the
time blocked there is the wait.

Each bucket's completion callback is a Python object that the process group's thread releases
(taking the GIL) only after DDP has seen the bucket complete. A process that ends right after its
last backward could start finalizing before that release, and a thread taking the GIL during
finalization aborts the process ("terminate called without an active exception"). So every
callback is counted while the process group holds it, and the interpreter's exit waits for the
count to reach zero first.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import numpy as np

from gpuviz_app.core.exit_join import close_at_exit

log = logging.getLogger(__name__)

ALLREDUCE = "ddp allreduce"
OWN_GATHER = "gpuviz gather"
STRAGGLER_SPREAD = 0.25  # the waits must differ by more than this share of a step to name a straggler
RELEASE_WAIT_S = 5.0  # the longest a wait for the process group's thread to release the callbacks lasts
READ_EVERY_S = 0.2  # DDP's timing of the all-reduce is read at most this often


class HeldCallbacks:
    """How many bucket callbacks the process group's threads still hold, and a wait for none."""

    def __init__(self) -> None:
        self._count = 0
        self._released = threading.Condition()

    def add(self) -> None:
        with self._released:
            self._count += 1

    def release(self) -> None:
        with self._released:
            self._count -= 1
            if self._count == 0:
                self._released.notify_all()

    @property
    def count(self) -> int:
        return self._count

    def wait_released(self, timeout: float = RELEASE_WAIT_S) -> bool:
        """True once no callback is held (the wait releases the GIL, so the holder can finish)."""
        with self._released:
            return self._released.wait_for(lambda: self._count == 0, timeout)

    def close(self, timeout: float) -> None:
        """At exit (`core.exit_join`): wait for the release, before finalization."""
        self.wait_released(timeout)


HELD = HeldCallbacks()
close_at_exit(HELD)  # a thread may still take the GIL to release one; after finalization began, that aborts


class BucketDone:
    """One bucket's completion callback: notes the time, hands DDP the averaged bucket, and is
    counted in `HELD` until the process group's thread lets go of it."""

    __slots__ = ("timer",)

    def __init__(self, timer: "AllreduceWaitTimer") -> None:
        self.timer = timer
        HELD.add()

    def __call__(self, future: Any) -> Any:
        self.timer.completed(time.perf_counter())
        return future.value()[0]

    def __del__(self) -> None:
        HELD.release()


class AllreduceWaitTimer:
    """A DDP communication hook that makes the default all-reduce (average the bucket over the
    group) and times its buckets. It does what DDP's built-in hook does, with one callback on
    each bucket's completion, since it runs on every bucket of every step."""

    every_step = True  # `take_step` after each step: it times the last step only

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: float | None = None
        self._last = 0.0
        self._group: Any = None
        self._size = 1

    def register(self, ddp_model: Any) -> bool:
        """Install the hook; False when DDP refuses it (it takes only one, so a model with its own
        hook keeps it, and the job measures the time blocked in its own gather instead)."""
        self._group = ddp_model.process_group
        self._size = self._group.size()
        try:
            ddp_model.register_comm_hook(state=None, hook=self._hook)
        except (RuntimeError, ValueError) as exc:
            log.info("gpuviz: the all-reduce's waiting time cannot be measured (%s); timing gpuviz's own gather", exc)
            return False
        return True

    def _hook(self, state, bucket):  # noqa: ANN001, ANN202 - DDP refuses a hook annotated otherwise than it says
        if self._first is None:  # the step's first bucket (buckets launch on the backward's thread)
            self._first = time.perf_counter()
        tensor = bucket.buffer()
        tensor.div_(self._size)
        return self._group.allreduce([tensor]).get_future().then(BucketDone(self))

    def completed(self, finished: float) -> None:
        """A bucket's all-reduce completed at `finished` (on the process group's thread)."""
        with self._lock:
            if finished > self._last:
                self._last = finished

    def take_step(self) -> float:
        """Seconds the last step spent in the all-reduce (0 when it made none); starts the next.
        DDP's backward returns only once every bucket's callback has run, so none is running."""
        first, last = self._first, self._last
        if first is None:
            return 0.0
        self._first, self._last = None, 0.0
        return last - first if last > first else 0.0


class DdpStatsWaitTimer:
    """The all-reduce's span as DDP's reducer times it on the CPU. The reducer keeps an
    iteration's times until the next forward begins, so `take_step` reports each step's wait one
    step late; the iteration number keeps a step from being counted twice.

    Timing every iteration costs the reducer's bookkeeping and the read of its logging data
    about 3% of a small model's step, so a job asks for every `sample_every`-th iteration (DDP's
    own sampling; it times the first ten as well) and `take_window` estimates a window's wait
    from the newest timed iteration. Reading the logging data costs a window more than the rest
    of it, so a window within `read_every_s` of the last read reuses that read's figure: the
    per-rank plots change about once a second."""

    every_step = False  # read once a window (`take_window`), not after each step

    def __init__(self, sample_every: int = 1, read_every_s: float = READ_EVERY_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.sample_every = max(int(sample_every), 1)
        self.read_every_s = read_every_s
        self.clock = clock
        self._logger: Any = None
        self._seen = 0
        self._per_step = 0.0  # the newest timed iteration's wait
        self._read_at: float | None = None

    def register(self, ddp_model: Any) -> bool:
        """Ask the reducer to time every `sample_every`-th iteration; False where this torch or
        model cannot."""
        if any(p.device.type != "cpu" for p in ddp_model.parameters()):
            return False  # CUDA events: reading them would wait for the device
        logger = getattr(ddp_model, "logger", None)
        sample_rate = getattr(ddp_model, "_set_ddp_runtime_logging_sample_rate", None)
        if logger is None or sample_rate is None or not hasattr(logger, "_get_ddp_logging_data"):
            return False
        try:
            sample_rate(self.sample_every)
            logger._get_ddp_logging_data().ints_map.get("iteration", 0)
        except (AttributeError, RuntimeError) as exc:
            log.info("gpuviz: DDP's own timing of the all-reduce is not available here (%s)", exc)
            return False
        self._logger = logger
        return True

    @property
    def timed_iteration(self) -> int:
        """The newest iteration the reducer timed that has been read (DDP counts from 1)."""
        return self._seen

    def _newest(self) -> float | None:
        """The newest timed iteration's wait in seconds; None when it was reported before."""
        times = self._logger._get_ddp_logging_data().ints_map
        iteration = int(times.get("iteration", 0))
        if iteration <= self._seen:
            return None
        self._seen = iteration
        self._per_step = max(int(times.get("backward_comm_time", 0)), 0) * 1e-9
        return self._per_step

    def take_step(self) -> float:
        """Seconds the newest timed iteration spent in the all-reduce, if not reported before."""
        newest = self._newest()
        return 0.0 if newest is None else newest

    def take_window(self, steps: int) -> float:
        """Seconds `steps` steps spent in the all-reduce, estimated from the newest timed
        iteration read (the one before when no iteration was timed since, or when the last
        read is more recent than `read_every_s`)."""
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.read_every_s:
            self._read_at = now
            self._newest()
        return self._per_step * steps


def wait_timer(ddp_model: Any, every: int = 1) -> DdpStatsWaitTimer | AllreduceWaitTimer | None:
    """The cheapest timer of the all-reduce's span that works for `ddp_model`, registered, for
    windows of `every` steps; None when neither does (see `AllreduceWaitTimer.register`)."""
    for timer in (DdpStatsWaitTimer(sample_every=every), AllreduceWaitTimer()):
        if timer.register(ddp_model):
            return timer
    return None


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
