"""The frame loop on its own: a fake source and pacer, its policy and its signals (no window, no torch)."""

from __future__ import annotations

import threading

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.mailbox import Mailbox
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.ui.frame_loop import FrameLoop


class Source:
    def __init__(self):
        self.mailbox = Mailbox()
        self.paced = False
        self.wanted = 0

    def pace_probes(self):
        self.paced = True

    def want_probes(self):
        self.wanted += 1


class Budget:
    """A display budget that is spent or not, as the test says."""

    def __init__(self, ready=True):
        self.allow = ready

    def ready(self):
        return self.allow

    def wait_s(self):
        return 0.0 if self.allow else 10.0

    def restart(self):
        pass


def snap(step, run_id=0, paused=False, finished=False, device="cpu"):
    return Snapshot(run_id=run_id, step=step, wall_time=0.0, metrics=MetricsHistory(), latest={},
                    paused=paused, finished=finished, device=device)


class Recorder:
    def __init__(self, loop: FrameLoop):
        self.events = []
        for name in ("snapshot_taken", "device_changed", "run_started", "status_due", "frame_drawn", "finished"):
            getattr(loop, name).connect(lambda *args, name=name: self.events.append((name, *args)))

    def names(self):
        return [e[0] for e in self.events]

    def clear(self):
        self.events.clear()


def make_loop(qapp, ready=True):
    drawn = []
    budget = Budget(ready)
    loop = FrameLoop(drawn.append, budget)
    source = Source()
    loop.start(source)
    loop.stop()  # the test ticks by hand
    return loop, source, budget, drawn


def test_a_snapshot_is_drawn_then_announced_and_a_new_run_and_device_are_told(qapp):
    loop, source, _, drawn = make_loop(qapp)
    assert source.paced  # probes are computed for the frames drawn
    events = Recorder(loop)
    first = snap(1)
    source.mailbox.put(first)
    loop.tick()
    assert drawn == [first] and loop.drawn is first and loop.snapshot is first
    assert events.names() == ["device_changed", "run_started", "snapshot_taken", "status_due", "frame_drawn"]
    assert events.events[0] == ("device_changed", "cpu") and events.events[1] == ("run_started", 0)
    assert source.wanted >= 1
    events.clear()
    loop.tick()  # nothing new: nothing drawn, nothing said
    assert drawn == [first] and events.names() == []
    source.mailbox.put(snap(2, run_id=1, device="cuda:0"))
    loop.tick()
    assert ("run_started", 1) in events.events and ("device_changed", "cuda:0") in events.events


def test_a_spent_budget_holds_frames_back_except_the_ones_drawn_at_once(qapp):
    loop, source, budget, drawn = make_loop(qapp)
    source.mailbox.put(snap(5))
    loop.tick()
    budget.allow = False
    source.mailbox.put(snap(6))
    loop.tick()
    assert [s.step for s in drawn] == [5]  # waits for the budget
    assert loop.snapshot.step == 6
    source.mailbox.put(snap(7, paused=True))
    loop.tick()
    assert [s.step for s in drawn] == [5, 7]  # pausing is shown at once
    events = Recorder(loop)
    source.mailbox.put(snap(8, finished=True))
    loop.tick()
    assert [s.step for s in drawn] == [5, 7, 8] and events.names().count("finished") == 1
    source.mailbox.put(snap(8, finished=True))
    budget.allow = True
    loop.tick()
    assert events.names().count("finished") == 1  # once per run


def test_a_load_failure_reported_from_another_thread_arrives_in_the_gui_thread(qapp, qtbot):
    loop, _, _, _ = make_loop(qapp)
    heard = []
    loop.load_failed.connect(lambda message: heard.append((message, threading.current_thread())))
    worker = threading.Thread(target=loop.report_load_failure, args=("/data/x.npz: not a zip",))
    with qtbot.waitSignal(loop.load_failed, timeout=5_000):
        worker.start()
        worker.join()
    qtbot.waitUntil(lambda: bool(heard), timeout=5_000)
    assert heard == [("/data/x.npz: not a zip", threading.main_thread())]


def test_a_training_runs_step_zero_waits_for_its_first_trained_step(qapp, monkeypatch):
    loop, source, _, drawn = make_loop(qapp)
    source.mailbox.put(snap(0))
    loop.tick()
    assert drawn == [] and loop.snapshot.step == 0  # the first steps are coming: step 0 is not drawn
    source.mailbox.put(snap(3))
    loop.tick()
    assert [s.step for s in drawn] == [3]
    source.mailbox.put(snap(0, run_id=1, paused=True))  # a paused run shows its step 0 at once
    loop.tick()
    assert [s.step for s in drawn] == [3, 0]
    source.mailbox.put(snap(0, run_id=2, finished=True))  # so does a run of no steps
    loop.tick()
    assert [s.step for s in drawn] == [3, 0, 0]
    monkeypatch.setattr("gpuviz_app.ui.frame_loop.FIRST_STEP_WAIT_S", 0.0)  # a first step that is late
    source.mailbox.put(snap(0, run_id=3))
    loop.tick()
    assert [(s.run_id, s.step) for s in drawn][-1] == (3, 0)


def test_until_its_first_snapshot_the_loop_wakes_rarely_then_at_frame_rate(qapp):
    from gpuviz_app.ui.frame_loop import FRAME_MS, STARTING_POLL_MS

    loop, source, _, drawn = make_loop(qapp)
    timer = loop._timer
    loop.tick()  # nothing yet: the run is starting (torch loading), nothing to draw
    assert timer.interval() == STARTING_POLL_MS > FRAME_MS
    source.mailbox.put(snap(0))
    loop.tick()  # step 0 taken: the first trained step is looked for at frame rate
    assert timer.interval() == FRAME_MS and drawn == []
    source.mailbox.put(snap(1))
    loop.tick()
    assert [s.step for s in drawn] == [1] and timer.interval() == FRAME_MS
