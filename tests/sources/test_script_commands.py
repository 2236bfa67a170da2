"""A script source shows what a command did at once: the step a pause or a single step stopped
at is published even when no publish was due (the window waits on these snapshots)."""

from __future__ import annotations

import threading
from pathlib import Path

from gpuviz_app.sources.script import ScriptSource

SCRIPT = Path(__file__).resolve().parents[1] / "ui" / "user_scripts" / "blobs_mlp.py"


def wait_until(thread: threading.Thread, check, timeout: float = 60.0) -> bool:
    """Join `thread` in short slices until `check()` holds (or the thread ends, or `timeout`)."""
    for _ in range(int(timeout / 0.01)):
        if check():
            return True
        if not thread.is_alive():
            return check()
        thread.join(0.01)
    return check()


def test_pause_and_a_single_step_are_published_though_no_publish_is_due():
    source = ScriptSource(SCRIPT, ["--steps", "100000"], publish_hz=1e-6)  # one publish per 11 days
    thread = threading.Thread(target=source.run)
    thread.start()
    try:
        assert wait_until(thread, lambda: source.current is not None and source.current.step_count >= 3)
        source.set_paused(True)
        assert wait_until(thread, lambda: (s := source.mailbox.peek()) is not None and s.paused)
        held = source.mailbox.peek().step
        assert held == source.current.step_count and held >= 3
        source.step_once()
        assert wait_until(thread, lambda: source.mailbox.peek().step == held + 1)
        thread.join(0.3)
        assert source.current.step_count == held + 1 and source.mailbox.peek().paused
    finally:
        source.stop()
        thread.join(60)
    assert not thread.is_alive() and source.failure is None
