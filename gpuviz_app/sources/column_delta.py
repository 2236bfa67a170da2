"""Weights payloads sent as the histogram columns that changed, and put back together by the window.

Between two payloads of one run the weights columns only grow at the end: new steps land in
the last column or in new ones, and every column before the last one the window holds is
unchanged until the columns merge (the stride doubles). So once a window holds a payload, the
next one can travel as its tail: every field whole except the per-column arrays, which start
at column `k` = the held payload's columns minus one. The window splices the held columns
before `k` to the tail and holds exactly the payload the sender made (`splice`); the message
names the version the tail extends, and a window holding another one keeps what it has.
Torch-free: the sender's tensors are sliced by their methods, the window's arrays are numpy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpuviz_app.core.probes.weights.payload import WeightsPayload

COLUMN_AXES = {"column_steps": 0, "tracked": 0, "counts": 1, "grid": 1, "extent": 1, "health": 1, "dead_steps": 1}


@dataclass(frozen=True)
class ColumnsSent:
    """What the sender knows of the weights payload a window holds (the last one it sent whole
    or spliced): its version and the bookkeeping that says which of its columns are final."""

    version: int
    column_steps: np.ndarray
    tracked: np.ndarray
    stride: int
    layers: list

    @classmethod
    def of(cls, payload: WeightsPayload, version: int) -> "ColumnsSent":
        return cls(version, np.array(payload.column_steps), np.array(payload.tracked), payload.stride,
                   list(payload.layers))


def unchanged_columns(sent: ColumnsSent | None, payload: Any) -> int:
    """How many leading columns of `payload` equal those of the payload `sent` describes (0: send
    it whole). The held payload's last column may still be growing, so it never counts."""
    if sent is None or not isinstance(payload, WeightsPayload) or getattr(payload.counts, "is_cuda", False):
        return 0  # (arrays crossing as CUDA IPC handles never come to the host: nothing to save)
    if payload.stride != sent.stride or payload.layers != sent.layers:
        return 0
    k = len(sent.column_steps) - 1
    if k < 1 or len(payload.column_steps) <= k:
        return 0
    same = np.array_equal(np.asarray(payload.column_steps)[:k], sent.column_steps[:k]) and \
        np.array_equal(np.asarray(payload.tracked)[:k], sent.tracked[:k])
    return k if same else 0


def tail(payload: WeightsPayload, k: int) -> WeightsPayload:
    """`payload` with its per-column arrays from column `k` on."""
    cut = {}
    for name, axis in COLUMN_AXES.items():
        value = getattr(payload, name)
        cut[name] = value[k:] if axis == 0 else value[:, k:]
    return dataclasses.replace(payload, **cut)


def splice(held: WeightsPayload, part: WeightsPayload, k: int) -> WeightsPayload:
    """The payload whose tail from column `k` is `part` and whose columns before `k` are `held`'s;
    ValueError when `held` cannot be the payload `part` extends."""
    if not isinstance(held, WeightsPayload) or not isinstance(part, WeightsPayload):
        raise ValueError("a weights tail extends only a weights payload")
    whole = {}
    for name, axis in COLUMN_AXES.items():
        old, new = np.asarray(getattr(held, name)), np.asarray(getattr(part, name))
        if old.ndim != new.ndim or old.shape[axis] < k or \
                old.shape[:axis] + old.shape[axis + 1:] != new.shape[:axis] + new.shape[axis + 1:] or \
                old.dtype != new.dtype:
            raise ValueError(f"the weights tail's {name} does not fit the payload held")
        whole[name] = np.concatenate([old[:k] if axis == 0 else old[:, :k], new], axis=axis)
    return dataclasses.replace(part, **whole)
