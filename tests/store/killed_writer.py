"""Trains a small model and writes its store until killed: `python killed_writer.py STORE OFFERED`.

Each snapshot offered is also logged to OFFERED as `step wall_time` (flushed), so the test can
tell what the run had offered when it was killed."""

import sys

from gpuviz_app.store.writer import RunWriter
from tests.store.probed_run import probed_snapshots

if __name__ == "__main__":
    writer = RunWriter(sys.argv[1])
    with open(sys.argv[2], "w", buffering=1) as offered:
        for snapshot in probed_snapshots(1_000_000, probe_every=5, views=("weights",)):
            writer.offer(snapshot)
            offered.write(f"{snapshot.step} {snapshot.wall_time!r}\n")
