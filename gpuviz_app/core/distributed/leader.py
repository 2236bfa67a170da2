"""What the leader does with the gathered windows: per-rank rows in the run's history and the
newest window as the snapshot part "distributed".

A window is a few dozen numbers per rank and a job makes one many times a second, so the
leader only keeps each gathered table; when the host flushes the run to publish it (and when
`MAX_KEPT` windows are kept, and at the job's end) the kept tables are read at once, in a few
array operations for all of them: each rank's loss, steps/s and waiting time per step become
rows of `rank<r>/loss`, `rank<r>/steps_per_s` and `rank<r>/wait_ms`, and the newest window alone
becomes a `DistributedPayload` (with the merged statistics of the sharded tensors), since a
snapshot shows only the newest part. Reading at the host's pace, not the windows', keeps the
leader's cost per window to a list append: its host publishes about once a second, since every
other rank waits for whatever the leader spends (benchmarks/README.md, "distributed").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gpuviz_app.core.distributed.payload import DistributedPayload
from gpuviz_app.core.distributed.timing import straggler

# A rank's figures of one window, before its statistics rows in the packed vector.
LOSS_SUM, LOSS_COUNT, ELAPSED, WAIT, STEPS, END_STEP = range(6)
FIGURES = 6
LEADER = 0
MAX_KEPT = 256  # windows kept at most before they are read, whatever the host's pace


@dataclass(frozen=True)
class JobLayout:
    """How a gathered table is laid out: (world_size, row_len) float64, each rank's row its
    FIGURES and then one statistics row per name."""

    world_size: int
    every: int
    names: tuple[str, ...]
    wait_source: str

    @property
    def row_len(self) -> int:
        from gpuviz_app.core.distributed.stats import STATS_LEN

        return FIGURES + len(self.names) * STATS_LEN


@dataclass
class Windows:
    """Kept windows read at once: per window (rows) and rank (columns)."""

    steps: np.ndarray  # (K,) int64, the leader's last step of each window
    loss: np.ndarray
    steps_per_s: np.ndarray
    wait_s: np.ndarray
    step_s: np.ndarray


def read_windows(tables: np.ndarray) -> Windows:
    """The figures of gathered tables (K, world_size, row_len)."""
    figures = tables[:, :, :FIGURES]
    counted = figures[..., LOSS_COUNT]
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = np.where(counted > 0, figures[..., LOSS_SUM] / np.maximum(counted, 1), np.nan)
        step_s = figures[..., ELAPSED] / np.maximum(figures[..., STEPS], 1)
        wait_s = np.minimum(figures[..., WAIT] / np.maximum(figures[..., STEPS], 1), step_s)
        steps_per_s = np.where(step_s > 0, 1.0 / step_s, np.nan)
    return Windows(figures[:, LEADER, END_STEP].astype(np.int64), loss, steps_per_s, wait_s, step_s)


def newest_payload(tables: np.ndarray, windows: Windows, layout: JobLayout) -> DistributedPayload:
    """The last window of `tables` as the payload the metrics view reads."""
    merged: dict[str, Any] = {}
    if layout.names:
        import torch

        from gpuviz_app.core.distributed.stats import STATS_LEN, merge

        stats = torch.from_numpy(tables[-1, :, FIGURES:].reshape(layout.world_size, len(layout.names), STATS_LEN))
        merged = merge(stats)
    wait_s, step_s = windows.wait_s[-1], windows.step_s[-1]
    return DistributedPayload(
        step=int(windows.steps[-1]), world_size=layout.world_size, every=layout.every, loss=windows.loss[-1],
        steps_per_s=windows.steps_per_s[-1], wait_s=wait_s, compute_s=step_s - wait_s,
        straggler=straggler(wait_s, step_s), wait_source=layout.wait_source, names=list(layout.names), **merged)


class LeaderSink:
    """Where the leader's gathered windows go (see module doc): the attached run's history and
    its host's snapshot parts."""

    def __init__(self, attached: Any, host: Any, layout: JobLayout) -> None:
        self.attached = attached
        self.probe_host = getattr(host, "probe_host", None)
        self.layout = layout
        self._tables: list[np.ndarray] = []
        self.windows = 0  # windows received
        attached.row_sources.append(self.flush)  # read whenever the host flushes the run

    def __call__(self, table: np.ndarray) -> None:
        """One gathered window (world_size, row_len), not shared with a buffer that is reused."""
        self._tables.append(table)
        self.windows += 1
        if len(self._tables) >= MAX_KEPT:
            self.flush()

    def flush(self) -> None:
        """Read the windows kept so far."""
        if not self._tables:
            return
        tables, self._tables = np.stack(self._tables), []
        windows = read_windows(tables)
        if self.probe_host is not None:
            self.probe_host.put("distributed", newest_payload(tables, windows, self.layout))
        ms = {"loss": windows.loss, "steps_per_s": windows.steps_per_s, "wait_ms": windows.wait_s * 1000.0}
        for name, values in ms.items():
            for rank in range(values.shape[1]):
                finite = np.isfinite(values[:, rank])
                if finite.any():
                    self.attached.append_rows(f"rank{rank}/{name}", windows.steps[finite], values[finite, rank])
