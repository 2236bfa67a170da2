"""A run killed with SIGKILL while it trains keeps everything but at most its last second."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from gpuviz_app.store.reader import open_run

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def committed_step(path: str) -> int:
    """The last snapshot step a reader sees committed in the store (-1 before there is one)."""
    if not os.path.exists(path):
        return -1
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT max(step) FROM records WHERE kind = 0").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError:  # (the schema is being created)
        return -1
    return row[0] if row and row[0] is not None else -1


def test_a_store_killed_mid_training_reopens_with_all_but_at_most_its_last_second(tmp_path):
    store, offered = str(tmp_path / "run.sqlite"), str(tmp_path / "offered.txt")
    child = subprocess.Popen([sys.executable, os.path.join(HERE, "killed_writer.py"), store, offered],
                             cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        seen, deadline = -1, time.monotonic() + 120
        while seen < 60 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # (polling the store for its committed step)
            seen = committed_step(store)
        assert seen >= 60, "the child wrote no records in time"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    with open(offered) as f:
        last_offered = [line.split() for line in f if line.endswith("\n")][-1]
    run = open_run(store)
    assert run.warnings == []
    steps = run.steps().tolist()
    assert steps == list(range(1, len(steps) + 1)) and steps[-1] >= seen  # nothing committed was lost
    last_wall = run.snapshot_at(steps[-1]).wall_time
    assert last_wall >= float(last_offered[1]) - 1.0  # the last second at most is lost
    assert run.snapshot_at(steps[-1]).parts["weights"] is not None
