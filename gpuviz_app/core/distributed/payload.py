"""What a distributed job's leader hands to the display (torch-free, numpy arrays)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class DistributedPayload:
    """One window of `every` steps of a job of `world_size` ranks, merged on the leader.

    Per rank r (arrays of length world_size, index = rank): `loss` the mean loss the rank saw
    over the window (NaN when it sent none), `steps_per_s`, and per step `wait_s` (time spent
    waiting in collectives, measured as `wait_source` says) and `compute_s` (the rest).
    `straggler` is the rank the others wait for, -1 while none stands out.

    Per sharded tensor t (DTensor parameters and their gradients; replicated ones are shown
    whole by the leader's own probes and are not counted again): `names[t]` ("weight <layer>"
    or "grad <layer>"), the merged `count` of finite values, `total` (their sum), `sumsq`,
    `min`, `max`, `nonfinite`, and `counts[t]` the exact histogram on the power-of-two grid
    (`e[t]`, `k0[t]`) of `core.probes.weights.histogram`.
    """

    step: int
    world_size: int
    every: int
    loss: np.ndarray
    steps_per_s: np.ndarray
    wait_s: np.ndarray
    compute_s: np.ndarray
    straggler: int
    wait_source: str
    names: list[str] = field(default_factory=list)
    count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    total: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sumsq: np.ndarray = field(default_factory=lambda: np.zeros(0))
    min: np.ndarray = field(default_factory=lambda: np.zeros(0))
    max: np.ndarray = field(default_factory=lambda: np.zeros(0))
    nonfinite: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    e: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    k0: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    counts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))

    @property
    def norm(self) -> np.ndarray:
        """The L2 norm of each merged tensor's finite values."""
        return np.sqrt(self.sumsq)
