"""Background torch threads are closed before the interpreter finalizes: a daemon thread cut off
inside a torch operation aborts the process after the user's script ended well."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gpuviz_app.core import exit_join

REPO = Path(__file__).resolve().parents[2]


class Owner:
    def __init__(self, name: str, calls: list) -> None:
        self.name, self.calls = name, calls

    def close(self, timeout: float) -> None:
        self.calls.append((self.name, timeout > 0.0))


def test_owners_are_told_then_awaited_before_the_pools_that_serve_them(monkeypatch):
    import weakref

    monkeypatch.setattr(exit_join, "_owners", weakref.WeakSet())
    monkeypatch.setattr(exit_join, "_pools", weakref.WeakSet())
    calls: list = []
    owners = [Owner("pool", calls), Owner("layout", calls), Owner("surface", calls)]
    exit_join.close_at_exit(owners[0], pool=True)
    exit_join.close_at_exit(owners[1])
    exit_join.close_at_exit(owners[2])
    exit_join.close_all(wait_s=30.0)
    assert [name for name, _ in calls[:4]] in (["layout", "surface"] * 2, ["surface", "layout"] * 2)
    assert [waits for _, waits in calls[:4]] == [False, False, True, True]  # all told, then each awaited
    assert calls[4:] == [("pool", False), ("pool", True)]


EXIT_SCRIPT = """
import sys, threading, torch
from gpuviz_app.core.cpu_workers import shared_workers

started = threading.Event()

def work():
    started.set()
    x = torch.randn(256, 256)
    for _ in range(200):
        x = torch.tanh(x @ x.T / 256)
    open(sys.argv[1], "w").write("done")

pool = shared_workers("exit-test", 1)
pool.jobs.put((work, __import__("queue").SimpleQueue()))
started.wait()
"""


def test_a_script_ending_while_a_worker_is_inside_torch_exits_cleanly_after_the_work(tmp_path):
    marker = tmp_path / "done"
    result = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(marker)], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "done"  # the worker was joined, not cut off at finalization
