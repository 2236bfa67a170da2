"""The timing hook's bucket callbacks are released by the process group's thread after DDP has
moved on; a process ending then must wait for the release before the interpreter finalizes, or
the thread taking the GIL aborts it."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import torch

from gpuviz_app.core.distributed import timing
from gpuviz_app.core.distributed.timing import AllreduceWaitTimer, HeldCallbacks

REPO = Path(__file__).resolve().parents[2]


class Work:
    def __init__(self, future: torch.futures.Future) -> None:
        self.future = future

    def get_future(self) -> torch.futures.Future:
        return self.future


class Group:
    """Stands for the process group: its all-reduce completes when the test says so."""

    def __init__(self) -> None:
        self.futures: list[torch.futures.Future] = []

    def size(self) -> int:
        return 2

    def allreduce(self, tensors: list[torch.Tensor]) -> Work:
        self.futures.append(torch.futures.Future())
        return Work(self.futures[-1])


class Bucket:
    def __init__(self, values: torch.Tensor) -> None:
        self.values = values

    def buffer(self) -> torch.Tensor:
        return self.values


def test_a_bucket_callback_is_held_until_the_group_lets_go_of_it():
    timer, group = AllreduceWaitTimer(), Group()
    timer._group, timer._size = group, group.size()
    before = timing.HELD.count
    child = timer._hook(None, Bucket(torch.tensor([2.0, 4.0])))
    assert timing.HELD.count == before + 1  # the group holds the callback until it completes
    group.futures[-1].set_result([torch.tensor([1.0, 2.0])])
    assert torch.equal(child.wait(), torch.tensor([1.0, 2.0]))
    del group.futures[:]
    assert timing.HELD.count == before
    assert timer.take_step() > 0.0


def test_the_wait_returns_once_another_thread_releases_the_last_callback():
    held = HeldCallbacks()
    held.add()
    held.add()
    go, done = threading.Event(), threading.Event()

    def release() -> None:
        go.wait(10)
        held.release()
        held.release()
        done.set()

    thread = threading.Thread(target=release)
    thread.start()
    assert not held.wait_released(timeout=0.0)
    go.set()
    assert held.wait_released(timeout=30.0) and done.wait(30.0)
    thread.join()


EXIT_SCRIPT = """
import sys, threading, time
from gpuviz_app.core.distributed import timing

class Timer:
    def completed(self, finished):
        pass

callback = [timing.BucketDone(Timer())]

def let_go():
    time.sleep(0.2)  # the group's thread is late: the main thread has ended by now
    with open(sys.argv[1], "w") as marker:
        marker.write("released")
    callback.clear()  # the exit's wait ends here

threading.Thread(target=let_go, daemon=True).start()
"""


def test_the_interpreter_waits_at_exit_for_a_callback_the_group_still_holds(tmp_path):
    marker = tmp_path / "released"
    result = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(marker)], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "released"  # a daemon thread still running at finalization would be cut off
