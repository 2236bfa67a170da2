"""Arms run time-sliced: each a process (or a job of several) frozen except during its slices.

On a shared 2-core VM the machine's speed changes by more than 2x between runs a few seconds
apart, far more than the few percent a goal like "keeps 0.97x its speed" is about. So the arms
run at once, each frozen with SIGSTOP, and the bench lets one run at a time for a slice, each in
turn, the order shifted every round so that each arm follows each other one; slices a second or
two apart see nearly the same machine. Every arm writes the clock (`time.perf_counter`, which is
CLOCK_MONOTONIC, the same in every process) at the end of each step into a file the bench maps;
an arm's rate in a slice is its steps ended within it per second, and each round's ratio of
two arms is one paired sample. A frozen process's clock runs on, so a step that spans a freeze
looks long to whatever it times; gpuviz's budgets count such a step as a typical one
(`core.probe_demand.TrainingTime`), so a freeze brings no probe round (the loss surface's
background thread, paced by the clock, computes a chunk or two after it).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np


class SlicedArm(Protocol):
    arm: str

    def signal(self, sig: int) -> None: ...


def step_clock(path: Path | str, columns: int = 1) -> np.ndarray:
    """The bench's view of an arm's per-step record, a row per step (zeros where none ended yet);
    its first column is the clock."""
    return np.memmap(path, dtype=np.float64, mode="r").reshape(-1, columns)


def wait_until(ready: Callable[[], bool], check: Callable[[], None], timeout_s: float, what: str) -> None:
    """Poll `ready` (calling `check`, which raises when the arm died) until it holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        check()
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} within {timeout_s:.0f} s")


def run_slices(arms: Sequence[SlicedArm], rounds: int, slice_s: float) -> list[tuple[int, SlicedArm, float, float]]:
    """Every arm in turn for `slice_s`, `rounds` times; each slice as (round, arm, start, end)."""
    slices = []
    for round_ in range(rounds):
        shift = round_ % len(arms)
        for arm in [*arms[shift:], *arms[:shift]]:
            arm.signal(signal.SIGCONT)
            start = time.perf_counter()
            time.sleep(slice_s)
            end = time.perf_counter()
            arm.signal(signal.SIGSTOP)
            slices.append((round_, arm, start, end))
    return slices


def steps_within(clock: np.ndarray, start: float, end: float) -> np.ndarray:
    """The indices of the steps that ended between two clock readings."""
    return np.flatnonzero((clock > start) & (clock <= end))
