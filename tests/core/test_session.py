import dataclasses
import threading
import time

import pytest

from gpuviz_app.core.commands import Configure, ConfigureProbe, ProbeAction, SetPaused
from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.probe_demand import ProbeDemand
from gpuviz_app.core.probes import Probe
from gpuviz_app.core.run_context import RunContext
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.data.builtin import digits


def wait_for(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def running():
    sessions = []

    def start(**kwargs):
        s = TrainingSession(digits, device="cpu", **kwargs)
        t = threading.Thread(target=s.run, daemon=True)
        t.start()
        sessions.append((s, t))
        assert wait_for(lambda: s.mailbox.peek() is not None and s.mailbox.peek().step > 0)
        return s

    yield start
    for s, t in sessions:
        s.stop()
        t.join(5)
        assert not t.is_alive()


def test_runs_to_max_steps_and_reports(running):
    s = running(max_steps=120)
    assert wait_for(lambda: s.mailbox.peek().finished)
    snap = s.mailbox.peek()
    assert snap.step == 120
    assert snap.metrics.total("train_loss") == 120
    assert snap.steps_per_s >= 0
    assert snap.device == "cpu" and snap.model == "cnn"


def test_pause_freezes_the_step_and_step_once_advances_by_one(running):
    s = running()
    s.set_paused(True)
    assert wait_for(lambda: s.mailbox.peek().paused)
    frozen = s.mailbox.peek().step
    time.sleep(0.3)
    assert s.mailbox.peek().step == frozen == s.trainer.step_count
    s.step_once()
    assert wait_for(lambda: s.mailbox.peek().step == frozen + 1)
    time.sleep(0.2)
    assert s.mailbox.peek().step == frozen + 1
    s.set_paused(False)
    assert wait_for(lambda: s.mailbox.peek().step > frozen + 5)


def test_reset_starts_a_new_run(running):
    s = running()
    first = s.mailbox.peek().run_id
    assert wait_for(lambda: s.mailbox.peek().step > 20)
    s.reset()
    assert wait_for(lambda: s.mailbox.peek().run_id == first + 1)
    assert s.mailbox.peek().step < 20


def test_configure_changes_live_and_restarts_for_model(running):
    s = running()
    s.configure(lr=0.005, optimizer="sgd", batch_size=16)
    assert wait_for(lambda: s.mailbox.peek().config.optimizer == "sgd")
    cfg = s.mailbox.peek().config
    assert cfg.lr == 0.005 and cfg.batch_size == 16
    run = s.mailbox.peek().run_id
    s.configure(model="mlp")
    assert wait_for(lambda: s.mailbox.peek().run_id == run + 1)
    assert s.mailbox.peek().model == "mlp"
    assert s.mailbox.peek().config.lr == 0.005


def test_a_failing_step_pauses_with_a_message_instead_of_dying(running):
    s = running()

    def broken():
        raise RuntimeError("boom")

    s.trainer.step = broken
    assert wait_for(lambda: s.mailbox.peek().error)
    snap = s.mailbox.peek()
    assert "boom" in snap.error and snap.paused


def test_a_failing_restart_keeps_the_current_run(running):
    s = running()
    run = s.mailbox.peek().run_id
    s.configure(model="no-such-model")
    assert wait_for(lambda: "no-such-model" in s.mailbox.peek().error)
    assert s.mailbox.peek().run_id == run
    assert s.mailbox.peek().config.model == "auto"


def counting_probe(calls: list, budget: float, cost=None, actions: list | None = None):
    """A probe class named "p" that records the step of each call and returns it; `cost()` is
    called inside each call (to charge a fake clock), `actions` collects what it is asked to do."""

    class Counting(Probe):
        name = "p"

        def __init__(self, context):
            assert isinstance(context, RunContext)  # probes see the run, never the trainer
            self.budget = budget

        def __call__(self, context):
            if cost is not None:
                cost()
            calls.append(context.step)
            return context.step

        def configure(self, options):
            if actions is not None:
                actions.append(("configure", dict(options)))

        def act(self, action):
            if actions is not None:
                actions.append(("act", action))

    return Counting


def test_advance_recomputes_every_shown_probe():
    calls = []
    s = TrainingSession(digits, device="cpu", max_steps=40, probes={"p": counting_probe(calls, 0.5)})
    for _ in range(4):
        snap = s.advance(10)
        assert snap.parts["p"] == snap.step
    assert snap.version("p") == 5 and calls == [0, 10, 20, 30, 40]


class OffsetClock:
    """The real clock plus whatever the probes were charged: a probe "costs" seconds without
    taking them, so the test does not depend on how fast the machine is."""

    def __init__(self):
        self.offset = 0.0

    def charge(self, seconds):
        self.offset += seconds

    def __call__(self):
        return time.perf_counter() + self.offset


def test_a_probe_over_its_budget_is_skipped_while_training_goes_on():
    clock = OffsetClock()
    dear, cheap = [], []
    dear_probe = counting_probe(dear, budget=0.5, cost=lambda: clock.charge(1000.0))
    cheap_probe = counting_probe(cheap, budget=1.0)
    s = TrainingSession(digits, device="cpu", probes={"dear": dear_probe, "cheap": cheap_probe},
                        demand=ProbeDemand(clock=clock))
    t = threading.Thread(target=s.run, daemon=True)
    t.start()
    try:
        assert wait_for(lambda: len(cheap) >= 5)  # the loop runs unforced rounds
        assert dear == [0]  # the new run's forced payload; 1000 s is never within half the training time
        assert s.mailbox.peek().version("dear") == 1
    finally:
        s.stop()
        t.join(5)


def test_commands_are_dataclasses_applied_in_the_order_sent():
    actions = []
    s = TrainingSession(digits, device="cpu", probes={"p": counting_probe([], 1.0, actions=actions)})
    s.advance(0)
    s.configure(lr=0.1)
    s.send(Configure({"lr": 0.2}))
    s.set_paused(False)
    s.step_once(2)
    s.configure_probe("p", {"a": 1})
    s.probe_action("p", "recentre")
    s.send(ConfigureProbe("p", {"a": 2}))
    s.send(ProbeAction("nobody", "recentre"))  # a view without a probe: ignored
    snap = s.advance(0)
    assert snap.config.lr == 0.2 and snap.paused
    assert actions == [("configure", {"a": 1}), ("act", "recentre"), ("configure", {"a": 2})]
    s.set_paused(False)
    assert not s.advance(0).paused
    with pytest.raises(TypeError):
        s.send(("paused", True))
    with pytest.raises(dataclasses.FrozenInstanceError):
        SetPaused(True).paused = False


def test_probe_options_outlive_the_run_but_actions_do_not():
    actions = []
    s = TrainingSession(digits, device="cpu", probes={"p": counting_probe([], 1.0, actions=actions)})
    s.advance(0)
    s.configure_probe("p", {"a": 1})
    s.probe_action("p", "recentre")
    s.configure_probe("p", {"b": 2})
    s.advance(0)
    actions.clear()
    s.reset()
    s.advance(0)
    assert actions == [("configure", {"a": 1, "b": 2})]  # the fresh probe gets the merged options


def test_the_session_is_a_run_source():
    from gpuviz_app.sources import RunSource

    assert isinstance(TrainingSession(digits, device="cpu"), RunSource)


def test_advance_is_deterministic():
    a = TrainingSession(digits, device="cpu", config=TrainConfig(seed=1), max_steps=30)
    b = TrainingSession(digits, device="cpu", config=TrainConfig(seed=1), max_steps=30)
    assert a.advance(30).latest == b.advance(30).latest
    assert a.finished and b.finished


def test_the_weights_tracker_runs_only_while_its_view_is_shown_unless_asked():
    from gpuviz_app.core.probes import probe_factories

    s = TrainingSession(digits, device="cpu", probes=probe_factories({"weights"}), active=set())
    s.advance(5)
    probe = s.probes["weights"]
    assert not probe.tracking and len(s.trainer.hooks) == 0
    s.set_active_probes({"weights"})
    s.advance(3)
    assert probe.tracking and s.mailbox.peek().parts["weights"].tracked.sum() == 3
    s.set_active_probes(set())
    s.configure_probe("weights", {"track_hidden": True})
    s.advance(2)
    assert probe.tracking and probe(s.trainer.context).tracked.sum() == 5
    s.close()
    s.advance(1)  # fresh probes for the same trainer: one hook, not two
    assert len(s.trainer.hooks) == 1


def test_paced_probes_run_only_when_the_display_asks():
    calls = []
    s = TrainingSession(digits, device="cpu", probes={"p": counting_probe(calls, 1.0)})
    s.pace_probes()
    t = threading.Thread(target=s.run, daemon=True)
    t.start()
    try:
        assert wait_for(lambda: s.mailbox.peek() is not None and s.mailbox.peek().step > 200)
        assert calls == [0]  # the new run's forced payload only
        s.want_probes()
        assert wait_for(lambda: len(calls) == 2)
        step = s.mailbox.peek().step
        assert wait_for(lambda: s.mailbox.peek().step > step + 200)
        assert len(calls) == 2 and s.mailbox.peek().parts["p"] == calls[1]  # one request, one payload
    finally:
        s.stop()
        t.join(5)
