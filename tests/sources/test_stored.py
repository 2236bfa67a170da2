"""The replay source publishes exactly what the recorded run holds at the step asked for."""

from __future__ import annotations

import queue
import threading

import numpy as np
import pytest

from gpuviz_app.core.commands import SetPaused, StepOnce
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.mailbox import Mailbox
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.sources.base import RunSource
from gpuviz_app.sources.stored import ReplaySource, ShowStep
from gpuviz_app.store.frames import MemoryFrames

TIMEOUT = 30


class QueueMailbox(Mailbox):
    """A mailbox that also hands every item to a queue, so a test waits for puts, not for time."""

    def __init__(self) -> None:
        super().__init__()
        self.items: queue.Queue = queue.Queue()

    def put(self, item) -> None:
        super().put(item)
        self.items.put(item)


class Recording:
    """A RunFrames that remembers what each `snapshot_at` returned."""

    def __init__(self, frames) -> None:
        self.frames = frames
        self.returned: list[tuple[int, Snapshot]] = []

    @property
    def summary(self):
        return self.frames.summary

    def steps(self) -> np.ndarray:
        return self.frames.steps()

    def snapshot_at(self, step: int) -> Snapshot:
        snap = self.frames.snapshot_at(step)
        self.returned.append((step, snap))
        return snap


def snapshots(steps=(0, 3, 7, 12)) -> list[Snapshot]:
    history = MetricsHistory(names=())
    out = []
    for i, step in enumerate(steps):
        history.append("train_loss", np.array([step]), np.array([1.0 / (step + 1)]))
        parts = {"weights": {"at": step}} if i % 2 == 0 else {"embedding": {"at": step}}
        out.append(Snapshot(run_id=1, step=step, wall_time=100.0 + step, metrics=history, latest={},
                            parts=parts, versions={name: i + 1 for name in parts}))
    return out


@pytest.fixture
def replay():
    made = []

    def make(frames, step=None):
        source = ReplaySource(frames, step=step)
        source.mailbox = QueueMailbox()
        thread = threading.Thread(target=source.run, daemon=True)
        thread.start()
        made.append((source, thread))
        return source

    yield make
    for source, thread in made:
        source.stop()
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def test_it_is_a_run_source():
    assert isinstance(ReplaySource(MemoryFrames(snapshots())), RunSource)


def test_it_starts_at_the_last_recorded_step_and_publishes_exactly_snapshot_at(replay):
    frames = Recording(MemoryFrames(snapshots()))
    source = replay(frames)
    first = source.mailbox.items.get(timeout=TIMEOUT)
    assert frames.returned == [(12, first)]
    assert first.step == 12
    for step in (3, 7, 0, 12, 5):
        source.send(ShowStep(step))
        shown = source.mailbox.items.get(timeout=TIMEOUT)
        assert frames.returned[-1] == (step, shown)  # the very object the frames returned
        assert shown.step == step
    # at step 5 the view last recorded at 3 (embedding) and at 0 (weights) both show
    assert shown.parts == {"weights": {"at": 0}, "embedding": {"at": 3}}
    assert shown.metrics.totals()["train_loss"] == 2


def test_it_starts_at_the_step_given_and_ignores_training_commands(replay):
    frames = Recording(MemoryFrames(snapshots()))
    source = replay(frames, step=3)
    assert source.mailbox.items.get(timeout=TIMEOUT).step == 3
    source.send(SetPaused(False))
    source.send(StepOnce(1))
    source.send(ShowStep(7))  # a marker: every command before it was handled by then
    assert source.mailbox.items.get(timeout=TIMEOUT).step == 7
    assert [step for step, _ in frames.returned] == [3, 7]


def test_the_newest_request_wins_when_reads_fall_behind(replay):
    reading, release = threading.Event(), threading.Event()

    class Slow(Recording):
        def snapshot_at(self, step):
            reading.set()
            release.wait(TIMEOUT)
            return super().snapshot_at(step)

    frames = Slow(MemoryFrames(snapshots()))
    source = replay(frames, step=0)
    assert reading.wait(TIMEOUT)  # step 0 is being read
    for step in (3, 7, 12):
        source.send(ShowStep(step))
    release.set()
    steps = [source.mailbox.items.get(timeout=TIMEOUT).step]
    while steps[-1] != 12:
        steps.append(source.mailbox.items.get(timeout=TIMEOUT).step)
    assert steps == [0, 12]
    assert [step for step, _ in frames.returned] == [0, 12]  # 3 and 7 were never read


def test_a_run_opened_on_its_thread_and_one_that_cannot_be_opened(replay):
    opened_on = []

    def load():
        opened_on.append(threading.current_thread())
        return MemoryFrames(snapshots())

    source = replay(load)
    assert source.mailbox.items.get(timeout=TIMEOUT).step == 12
    assert opened_on and opened_on[0] is not threading.current_thread()

    def fail():
        raise ValueError("runs/x: not a gpuviz run")

    broken = replay(fail)
    snap = broken.mailbox.items.get(timeout=TIMEOUT)
    assert snap.error == broken.error == "runs/x: not a gpuviz run"
    assert snap.finished and not snap.parts


def test_a_step_that_cannot_be_read_keeps_the_last_picture(replay):
    source = replay(MemoryFrames(snapshots(steps=(5, 9))), step=9)
    assert source.mailbox.items.get(timeout=TIMEOUT).step == 9
    source.send(ShowStep(2))  # before the first record: nothing to show
    source.send(ShowStep(5))
    assert source.mailbox.items.get(timeout=TIMEOUT).step == 5


def test_a_replay_stopped_before_it_runs_ends_at_once():
    source = ReplaySource(MemoryFrames(snapshots()))
    source.stop()  # the window moved on before the thread began
    thread = threading.Thread(target=source.run, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive() and source.stopped
