"""Frame pacing: the display draws as often as its CPU budget allows, up to the timer's rate.

On a software renderer (Mesa's llvmpipe) a frame of the window costs tens of milliseconds of
CPU, much of it in the driver's raster threads, and drawing at 60 Hz would take the cores the
training needs; even on a GPU, VisPy's Python side of a frame takes the GIL the training loop
needs (benchmarks/README.md has the figures). The pacer keeps a token bucket of display CPU time (the GUI thread plus the GL
driver's worker threads) that fills at `budget` seconds per second; a frame is drawn only
while the bucket is positive.
"""

from __future__ import annotations

import os
import time
from typing import Callable

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_DRIVER_THREAD_PREFIXES = ("llvmpipe", "lp:")  # Mesa's software rasteriser threads


class DisplayClock:
    """CPU seconds spent on drawing: this thread, plus software GL raster threads (Linux).

    Must be called from the GUI thread. Driver threads are found by name in /proc and
    re-scanned every few seconds; elsewhere only this thread counts.
    """

    def __init__(self, rescan_s: float = 3.0) -> None:
        self._rescan_s = rescan_s
        self._scanned = -1e9
        self._driver_tids: list[str] = []
        self._proc = os.path.isdir("/proc/self/task")

    def _scan(self) -> None:
        tids = []
        try:
            for tid in os.listdir("/proc/self/task"):
                with open(f"/proc/self/task/{tid}/comm") as f:
                    if f.read().startswith(_DRIVER_THREAD_PREFIXES):
                        tids.append(tid)
        except OSError:
            pass
        self._driver_tids = tids

    def _driver_cpu(self) -> float:
        total = 0
        for tid in self._driver_tids:
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                continue
        return total / _CLK_TCK

    def __call__(self) -> float:
        now = time.monotonic()
        if self._proc and now - self._scanned > self._rescan_s:
            self._scanned = now
            self._scan()
        return time.thread_time() + (self._driver_cpu() if self._driver_tids else 0.0)


# View > Display rate: share of the machine's cores the display may use; the first is the default
DISPLAY_SHARES = (("Favour training (2% of the CPU)", 0.02), ("Balanced (5%)", 0.05), ("Smooth (25%)", 0.25))
DEFAULT_SHARE = DISPLAY_SHARES[0][1]


def share_budget(share: float) -> float:
    """Cores for a share of the machine, at most one."""
    return min(1.0, share * (os.cpu_count() or 1))


def budget_override() -> float | None:
    """GPUVIZ_DISPLAY_BUDGET in cores, if set to a number."""
    override = os.environ.get("GPUVIZ_DISPLAY_BUDGET")
    if override:
        try:
            return max(0.005, float(override))
        except ValueError:
            pass
    return None


def default_budget() -> float:
    """Display CPU seconds per second: 2% of the machine (at most one core), unless
    GPUVIZ_DISPLAY_BUDGET sets it (in cores, e.g. 0.5 for a smoother display).

    Display time costs training more than its share: the GUI's Python holds the GIL the
    training loop needs, and on few cores each preemption leaves torch's other thread
    waiting at a barrier; 2% is where training on a 2-core machine kept its speed."""
    override = budget_override()
    return share_budget(DEFAULT_SHARE) if override is None else override


class FramePacer:
    """A token bucket of display CPU seconds, refilled at `budget` (the user's base plus a
    recording's extra) seconds per second. Only its methods change it: `set_base` (View >
    Display rate), `set_extra` (while a recording runs), `charge` (work done for the display
    outside the GUI thread's clock, such as the video encoder's)."""

    def __init__(self, budget: float | None = None, burst_s: float = 0.05, max_debt_s: float = 0.1,
                 clock: Callable[[], float] = time.perf_counter,
                 cpu_clock: Callable[[], float] | None = None) -> None:
        self._base = default_budget() if budget is None else budget
        self._extra = 0.0
        self.burst_s = burst_s
        self.max_debt_s = max_debt_s  # one slow frame (shader compiles) delays the next by at most this/budget
        self._clock = clock
        self._cpu = cpu_clock or DisplayClock()
        self.restart()

    @property
    def base(self) -> float:
        """The user's choice, in cores."""
        return self._base

    @property
    def extra(self) -> float:
        """Cores granted on top of the base while a recording runs."""
        return self._extra

    @property
    def budget(self) -> float:
        """Display CPU seconds per second: the user's base and a recording's extra."""
        return self._base + self._extra

    def set_base(self, cores: float) -> None:
        self._settle()  # time until now was earned at the old rate
        self._base = max(0.0, float(cores))

    def set_extra(self, cores: float) -> None:
        self._settle()
        self._extra = max(0.0, float(cores))

    def charge(self, seconds: float) -> None:
        """Pay `seconds` of CPU spent for the display elsewhere (it delays the next frame)."""
        self._tokens -= max(0.0, seconds)

    def restart(self) -> None:
        """Forget past spending (start-up work is not drawing)."""
        self._wall, self._spent = self._clock(), self._cpu()
        self._tokens = self.burst_s

    def _settle(self) -> None:
        wall, cpu = self._clock(), self._cpu()
        tokens = self._tokens + self.budget * (wall - self._wall) - (cpu - self._spent)
        self._tokens = max(-self.max_debt_s, min(self.burst_s, tokens))
        self._wall, self._spent = wall, cpu

    def ready(self) -> bool:
        """Account for the CPU used since the last call; True when a frame may be drawn now."""
        self._settle()
        return self._tokens > 0

    def wait_s(self) -> float:
        """Seconds until the bucket is positive again (0 when a frame may be drawn now)."""
        return max(0.0, -self._tokens / self.budget) if self.budget > 0 else 0.0
