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

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.store.layout import STORE_FILE, new_run_dir
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

    def follow(self, mailbox: Any) -> None:
        """Record what `mailbox` (a `core.mailbox.Mailbox` of snapshots) is given from now on."""
        self._mailbox = mailbox
        mailbox.observer = self.offer

    def offer(self, snapshot: Snapshot) -> None:
        if not isinstance(snapshot, Snapshot) or snapshot.run_id <= 0:
            return  # (a source that failed before its first run publishes run 0)
        with self._lock:
            if snapshot.run_id != self._run_id:
                if self.writer is not None:
                    self.writer.close(timeout=None)
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
        if self._mailbox is not None and self._mailbox.observer == self.offer:
            self._mailbox.observer = None
        with self._lock:
            writer, self.writer, self._run_id = self.writer, None, None
        if writer is not None:
            writer.close(timeout)
