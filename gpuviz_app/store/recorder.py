"""Keeps every run a source publishes: each new run id gets its run directory and writer.

`RunRecorder.follow(mailbox)` makes the recorder the mailbox's observer, so every snapshot put
is offered to the store on the publishing thread without waiting (the writer's queue drops and
counts before it blocks; the run directory is made on the writer's thread).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.store.frames import RunSummary
from gpuviz_app.store.layout import STORE_FILE, new_run_dir
from gpuviz_app.store.reader import StoredRun, StoreError
from gpuviz_app.store.writer import RunWriter

log = logging.getLogger(__name__)


class RunRecorder:
    """The runs of one source, each written to a new directory under `root` (the runs directory)."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root
        self.writer: RunWriter | None = None
        self._run_id: int | None = None
        self._lock = threading.Lock()
        self._mailbox: Any = None
        self._retired: list[RunWriter] = []  # writers of earlier runs, finishing on their own

    def follow(self, mailbox: Any) -> None:
        """Record what `mailbox` (a `core.mailbox.Mailbox` of snapshots) is given from now on."""
        self._mailbox = mailbox
        mailbox.observer = self.offer

    def resume(self) -> None:
        """Record what the mailbox followed last is given again, after `unfollow`."""
        if self._mailbox is not None:
            self._mailbox.observer = self.offer

    def unfollow(self) -> None:
        """Stop recording what the mailbox is given (the run's writer stays open: `resume` goes on)."""
        if self._mailbox is not None and self._mailbox.observer == self.offer:
            self._mailbox.observer = None
        writer = self.writer
        if writer is not None:
            writer.unwatch()

    def offer(self, snapshot: Snapshot) -> None:
        if not isinstance(snapshot, Snapshot) or snapshot.run_id <= 0:
            return  # (a source that failed before its first run publishes run 0)
        with self._lock:
            if snapshot.run_id != self._run_id:
                if self.writer is not None:
                    self.writer.close(timeout=None)
                    self._retired.append(self.writer)
                self._run_id = snapshot.run_id
                name = snapshot.model or "run"
                meta = (name, snapshot.dataset, snapshot.model)
                self.writer = RunWriter(lambda: os.path.join(
                    new_run_dir(meta[0], meta[1], meta[2], root=self.root, started=snapshot.wall_time), STORE_FILE))
            writer = self.writer
        writer.offer(snapshot)

    @property
    def run_dir(self) -> str | None:
        """The directory of the run being recorded, once it exists."""
        writer = self.writer
        if writer is None or not writer.ready.is_set() or not writer.path:
            return None
        return os.path.dirname(writer.path)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop recording (the mailbox is let go) and finish writing."""
        self.unfollow()
        with self._lock:
            writers = self._retired + ([self.writer] if self.writer is not None else [])
            self.writer, self._run_id, self._retired = None, None, []
        for writer in writers:
            writer.close(timeout=None)
        if timeout is not None:
            for writer in writers:
                writer.close(timeout)


class LiveFrames:
    """The recorded frames of the run a recorder is writing (`RunFrames`), read as they are written:
    `refresh` opens the run's store once it exists (again for each new run) and reads what is new."""

    def __init__(self, recorder: RunRecorder) -> None:
        self.recorder = recorder
        self._run: StoredRun | None = None
        self._dir: str | None = None

    def refresh(self) -> int:
        run_dir = self.recorder.run_dir
        if run_dir != self._dir:
            if self._run is not None:
                self._run.close()
            self._run, self._dir = None, run_dir
            if run_dir is not None:
                try:
                    self._run = StoredRun(run_dir)
                except StoreError as exc:
                    log.warning("run store: %s", exc)
            return len(self._run.steps()) if self._run is not None else 0
        return self._run.refresh() if self._run is not None else 0

    @property
    def summary(self) -> RunSummary:
        return self._run.summary if self._run is not None else RunSummary(name="recording")

    def steps(self) -> np.ndarray:
        return self._run.steps() if self._run is not None else np.zeros(0, np.int64)

    def snapshot_at(self, step: int) -> Snapshot:
        if self._run is None:
            raise KeyError(f"nothing was recorded at or before step {step}")
        return self._run.snapshot_at(step)
