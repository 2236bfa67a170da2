"""Every snapshot a source publishes is recorded; each run of it gets its own run directory."""

from __future__ import annotations

import threading

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.mailbox import Mailbox
from gpuviz_app.core.probes import probe_factories
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.data.builtin import digits
from gpuviz_app.store.reader import open_run
from gpuviz_app.store.recorder import LiveFrames, RunRecorder
from gpuviz_app.store.runs import list_runs
from tests.store.probed_run import same


def test_a_training_session_is_recorded_as_it_publishes(tmp_path):
    session = TrainingSession(digits, device="cpu", max_steps=40, probes=probe_factories({"weights"}),
                              active={"weights"})
    recorder = RunRecorder(root=str(tmp_path))
    recorder.follow(session.mailbox)
    thread = threading.Thread(target=session.run, kwargs={"until_finished": True})
    thread.start()
    thread.join(120)
    assert not thread.is_alive()
    last = session.mailbox.peek()
    recorder.close()
    (summary,) = list_runs(str(tmp_path))
    assert summary.steps == last.step == 40 and summary.dataset == last.dataset and summary.model == last.model
    run = open_run(summary.path)
    assert run.warnings == []
    shown = run.snapshot_at(40)
    same(last.parts["weights"], shown.parts["weights"], "weights")
    assert shown.config == last.config and shown.finished
    assert shown.metrics.total("train_loss") == last.metrics.total("train_loss") == 40


def test_each_run_id_gets_its_own_directory_and_run_zero_none(tmp_path):
    mailbox: Mailbox[Snapshot] = Mailbox()
    recorder = RunRecorder(root=str(tmp_path))
    recorder.follow(mailbox)
    history = MetricsHistory()
    for run_id, step in [(0, 0), (1, 1), (1, 2), (2, 1), (2, 2), (2, 3)]:
        mailbox.put(Snapshot(run_id=run_id, step=step, wall_time=1e9 + 10 * run_id + step, metrics=history,
                             latest={}, model=f"model {run_id}"))
    recorder.close()
    mailbox.put(Snapshot(run_id=3, step=1, wall_time=1e9, metrics=history, latest={}))  # (no longer recorded)
    assert [(r.name, r.steps) for r in list_runs(str(tmp_path))] == [("model 1", 2), ("model 2", 3)]


def test_the_run_being_recorded_is_read_as_it_is_written(tmp_path):
    mailbox: Mailbox[Snapshot] = Mailbox()
    recorder = RunRecorder(root=str(tmp_path))
    recorder.follow(mailbox)
    live = LiveFrames(recorder)
    assert live.refresh() == 0 and live.steps().tolist() == []
    history = MetricsHistory()

    def publish(run_id, step):
        mailbox.put(Snapshot(run_id=run_id, step=step, wall_time=1e9 + step, metrics=history, latest={}))

    def recorded(steps):  # the writer commits on its own thread: wait (bounded) until a reader sees them
        for _ in range(600):
            live.refresh()
            if live.steps().tolist() == steps:
                return True
            threading.Event().wait(0.05)
        return False

    publish(1, 1)
    publish(1, 2)
    assert recorded([1, 2])
    publish(1, 3)
    assert recorded([1, 2, 3]) and live.snapshot_at(3).step == 3
    publish(2, 1)  # a new run: its own directory, read from its start
    assert recorded([1])
    recorder.close()


def test_a_paused_recorder_keeps_no_snapshot_and_loses_no_metric_row(tmp_path):
    mailbox: Mailbox[Snapshot] = Mailbox()
    recorder = RunRecorder(root=str(tmp_path))
    recorder.follow(mailbox)
    history = MetricsHistory()

    def step(n):
        history.append("train_loss", [n], [1.0 / n])
        mailbox.put(Snapshot(run_id=1, step=n, wall_time=1e9 + n, metrics=history, latest={}))

    for n in (1, 2):
        step(n)
    recorder.unfollow()
    for n in (3, 4, 5):
        step(n)
    recorder.resume()
    step(6)
    recorder.close()
    run = open_run(list_runs(str(tmp_path))[0].path)
    assert run.steps().tolist() == [1, 2, 6]  # the snapshots offered while paused were not kept
    rows = run.rows()["train_loss"]
    assert rows[:, 0].tolist() == [1, 2, 3, 4, 5, 6]  # the rows logged while paused came with the next snapshot
    assert rows[:, 1].tolist() == [1.0 / n for n in range(1, 7)]
