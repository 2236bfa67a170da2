"""A TensorBoard log directory opened as a run: its scalars in the metrics view, its
histograms in the weights view's distribution over time, every logged step on the timeline.

`import_logdir(path)` reads every event file under `path` once (`tensorboard_events`,
checksums checked by `tensorboard_records`); snapshots are then built when asked for, so a
long log opens in the time it takes to read it. Damage (a truncated file, a flipped byte)
never stops the import: what is readable is shown and `warnings` says what was not.
Needs the `tensorboard` extra (TensorBoard's protocol buffers and a C CRC-32C).
"""

from __future__ import annotations

import logging
import os
import re

import numpy as np

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.store.frames import RunSummary, history_until

log = logging.getLogger(__name__)

EXTRA_HINT = "reading TensorBoard logs needs the tensorboard extra: pip install 'gpuviz-app[tensorboard]'"
_LOSS = re.compile(r"(^|[/._])loss($|[/._])", re.IGNORECASE)


class LogdirError(ValueError):
    """A path that cannot be imported as TensorBoard logs; `str` is one sentence naming it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


class TensorBoardFrames:
    """A log directory's scalars and histograms, read back at any logged step (a `RunFrames`)."""

    def __init__(self, path: str, events) -> None:
        from gpuviz_app.store.tensorboard_histograms import LoggedHistograms

        self.path = path
        self.rows: dict[str, np.ndarray] = events.scalars
        self.histograms = LoggedHistograms(events.histograms)
        self.warnings: list[str] = list(events.warnings)
        self._walls = events.wall_times
        steps = [r[:, 0].astype(np.int64) for r in self.rows.values()] + [self.histograms.steps]
        self._steps = np.unique(np.concatenate(steps)) if steps else np.zeros(0, np.int64)
        losses = [name for name in self.rows if _LOSS.search(name)]
        final_loss = float(self.rows[losses[0]][-1, 1]) if losses and len(self.rows[losses[0]]) else float("nan")
        self._summary = RunSummary(
            name=os.path.basename(os.path.normpath(path)) or path,
            model="TensorBoard log",
            started=float(self._walls[:, 1].min()) if len(self._walls) else 0.0,
            steps=int(self._steps[-1]) if len(self._steps) else 0,
            final_loss=final_loss,
            size_bytes=events.size_bytes,
            path=path,
        )

    @property
    def summary(self) -> RunSummary:
        return self._summary

    def steps(self) -> np.ndarray:
        return self._steps.copy()

    def _wall_time(self, step: int) -> float:
        i = int(np.searchsorted(self._walls[:, 0], step, side="right")) - 1 if len(self._walls) else -1
        return float(self._walls[i, 1]) if i >= 0 else self._summary.started

    def snapshot_at(self, step: int) -> Snapshot:
        step = int(step)
        if not len(self._steps) or step < self._steps[0]:
            raise KeyError(f"nothing was recorded at or before step {step}")
        latest = {}
        for name, rows in self.rows.items():
            i = int(np.searchsorted(rows[:, 0], step, side="right"))
            if i:
                latest[name] = float(rows[i - 1, 1])
        parts, versions = {}, {}
        payload = self.histograms.payload_at(step)
        if payload is not None:
            parts["weights"] = payload
            versions["weights"] = self.histograms.logged_until(step)
        return Snapshot(
            run_id=1, step=step, wall_time=self._wall_time(step), metrics=history_until(self.rows, step),
            latest=latest, parts=parts, versions=versions, model=self._summary.model,
            finished=step >= self._steps[-1],
        )


def import_logdir(path: str | os.PathLike) -> TensorBoardFrames:
    """The TensorBoard logs under `path` (a log directory or one event file) as a run.

    Raises `LogdirError` (one sentence naming the path) when there is nothing to import;
    damaged files are imported as far as they are readable, with `warnings` saying what was lost.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise LogdirError(path, "no such file or folder")
    try:
        from gpuviz_app.store.tensorboard_events import event_files, read_events

        import tensorboard.compat.proto.event_pb2  # noqa: F401 - the extra's presence
    except ImportError:
        raise LogdirError(path, EXTRA_HINT) from None
    if os.path.isfile(path) and "tfevents" not in os.path.basename(path):
        raise LogdirError(path, "not a TensorBoard event file (their names contain 'tfevents')")
    files = event_files(path)
    if not files:
        raise LogdirError(path, "not a TensorBoard log directory (no events.out.tfevents.* file in it)")
    events = read_events(files)
    if not events.scalars and not events.histograms:
        reason = "its event files hold no readable scalars or histograms"
        if events.warnings:
            reason += f" ({events.warnings[0].rstrip('.')})"
        raise LogdirError(path, reason)
    frames = TensorBoardFrames(path, events)
    for warning in frames.warnings:
        log.warning("%s", warning)
    return frames
