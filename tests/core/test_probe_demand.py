"""Whether a probe runs: `ProbeDemand` decides, `ProbeHost` asks it and keeps the accounts.

A fake clock stands in for time, so each test states exactly how long things took."""

from types import SimpleNamespace

import pytest

from gpuviz_app.core.probe_demand import ProbeDemand
from gpuviz_app.core.probe_host import ProbeHost
from gpuviz_app.core.probes import Probe


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def first_round(demand: ProbeDemand, name: str = "p", cost: float = 0.0) -> None:
    """The forced round that starts a run (after `track`, which `new_run` would forget)."""
    demand.force()
    assert demand.due(name, demand.clock())
    start = demand.clock()
    demand.ran(name, start, start + cost)
    demand.round_done()


def test_a_probe_runs_only_while_its_time_stays_within_its_budget_of_training():
    clock = FakeClock()
    demand = ProbeDemand(shown={"p"}, min_interval_s=0.0, clock=clock)
    demand.track("p", budget=0.1)
    first_round(demand, cost=1.0)  # the first payload is never refused
    demand.add_training_time(5.0)
    clock.now = 100.0
    assert not demand.due("p", clock.now)  # 1 s spent > 0.1 * 5 s
    demand.add_training_time(4.0)
    assert not demand.due("p", clock.now)  # 1 s > 0.9 s
    demand.add_training_time(1.0)
    assert demand.due("p", clock.now)  # 1 s <= 0.1 * 10 s
    demand.ran("p", 100.0, 101.0)
    demand.round_done()
    assert demand.spent("p") == 2.0 and not demand.due("p", 200.0)


def test_budget_left_unused_while_nothing_asked_buys_one_run_not_a_burst():
    clock = FakeClock()
    demand = ProbeDemand(shown={"p"}, min_interval_s=0.0, clock=clock)
    demand.track("p", budget=0.1)
    first_round(demand, cost=1.0)
    for _ in range(1000):  # steps of training while the display asked for nothing
        demand.add_training_time(1.0)
    assert demand.due("p", 10.0)
    demand.ran("p", 10.0, 11.0)
    demand.round_done()
    demand.add_training_time(1.0)
    assert not demand.due("p", 20.0)  # the next run waits for its budget as after any run: 10 s of training
    demand.add_training_time(9.0)
    assert demand.due("p", 30.0)
    assert demand.spent("p") == 2.0  # what it spent, the budget it let go aside


def test_a_step_that_spans_a_pause_counts_as_a_typical_step_and_brings_no_run():
    demand = ProbeDemand(shown={"p"}, min_interval_s=0.0, clock=FakeClock())
    demand.track("p", budget=0.1)
    first_round(demand, cost=0.1)
    for _ in range(5):
        assert demand.add_training_time(0.1) == 0.1
    assert not demand.due("p", 10.0)  # 0.1 s spent > 0.1 * 0.5 s
    assert demand.add_training_time(3.0) == pytest.approx(0.1)  # the process was stopped for 3 s
    assert demand.train_time == pytest.approx(0.6) and not demand.due("p", 10.0)
    for _ in range(3):
        demand.add_training_time(0.1)
    assert not demand.due("p", 11.0)  # 0.9 s of training: had the pause counted, 3.8 s
    demand.add_training_time(0.15)
    assert demand.due("p", 11.0)  # due once a whole second of training is behind it, as without the pause
    assert demand.add_training_time(0.2) == 0.2  # a slower step is training (shorter than PAUSE_MIN_S)


def test_the_first_step_counts_whole_whatever_its_length():
    demand = ProbeDemand(shown={"p"}, min_interval_s=0.0, clock=FakeClock())
    assert demand.add_training_time(30.0) == 30.0  # nothing typical yet: a first step that compiled a model
    assert demand.add_training_time(1.0) == 1.0


def test_a_probe_never_runs_twice_within_its_minimum_interval():
    demand = ProbeDemand(shown={"p", "q"}, min_interval_s=0.5, clock=FakeClock())
    demand.track("p", budget=10.0)
    demand.track("q", budget=10.0, min_interval_s=2.0)
    first_round(demand)
    demand.ran("q", 0.0, 0.0)
    demand.add_training_time(100.0)
    assert not demand.due("p", 0.4) and demand.due("p", 0.5)
    assert not demand.due("q", 1.9) and demand.due("q", 2.0)


def test_forced_rounds_ignore_budget_and_interval_but_not_what_is_shown():
    demand = ProbeDemand(shown={"p"}, clock=FakeClock())
    demand.track("p", budget=0.0)
    first_round(demand, cost=5.0)
    assert not demand.due("p", 0.0)
    demand.force()
    assert demand.due("p", 0.0) and not demand.due("hidden", 0.0)
    demand.round_done()
    assert not demand.due("p", 0.0)  # one forced round only
    demand.set_shown(set())
    demand.force()
    assert not demand.due("p", 0.0)


def test_paced_probes_wait_for_the_display_and_one_request_is_served_once():
    demand = ProbeDemand(shown={"p"}, min_interval_s=0.0, clock=FakeClock())
    demand.pace()
    demand.track("p", budget=1.0)
    first_round(demand)  # forced: runs without a request, and does not use one up
    demand.add_training_time(10.0)
    assert not demand.due("p", 1.0)
    demand.want()
    assert demand.due("p", 1.0)
    demand.round_done()
    assert demand.due("p", 1.0)  # nothing ran: the request stands
    demand.ran("p", 1.0, 1.0)
    demand.round_done()
    assert not demand.due("p", 2.0)


TRAINED = SimpleNamespace(step=1)  # the run context, as far as the host reads it


class Costly(Probe):
    """Charges the fake clock `cost` seconds per call and counts the calls."""

    name = "costly"
    budget = 0.1

    def __init__(self, clock: FakeClock, cost: float):
        self.clock, self.cost, self.calls = clock, cost, 0

    def __call__(self, context):
        self.calls += 1
        self.clock.now += self.cost
        return self.calls


def test_the_host_charges_each_probe_what_its_call_cost_and_skips_it_over_budget():
    clock = FakeClock()
    demand = ProbeDemand(min_interval_s=0.0, clock=clock)
    host = ProbeHost({"costly": lambda context: Costly(clock, cost=2.0)}, demand)
    demand.set_shown({"costly"})
    host.start_run(context=TRAINED)
    assert host.collect(TRAINED) and host.versions == {"costly": 1}
    assert demand.spent("costly") == 2.0
    demand.add_training_time(10.0)
    assert not host.collect(TRAINED) and host.versions == {"costly": 1}  # 2 s > 0.1 * 10 s
    demand.add_training_time(10.0)
    assert host.collect(TRAINED) and host.versions == {"costly": 2} and host.parts == {"costly": 2}
    host.start_run(context=TRAINED)  # a new run: fresh probe, fresh accounts, a forced round
    assert host.collect(TRAINED) and host.versions == {"costly": 1} and demand.spent("costly") == 2.0


def test_the_host_runs_only_shown_probes_and_tells_probes_whether_they_are_shown():
    seen = []

    class Watching(Probe):
        def set_shown(self, shown):
            seen.append(shown)

        def __call__(self, context):
            return "payload"

    host = ProbeHost({"w": lambda context: Watching()})
    host.set_shown(set())
    host.start_run(context=TRAINED)
    assert not host.collect(TRAINED) and host.parts == {}  # hidden: not even made before a trained round
    assert not host.collect(TRAINED) and host.parts == {}  # made after it, told it is hidden, not run
    host.set_shown({"w"})
    assert host.collect(TRAINED) and host.parts == {"w": "payload"}
    assert seen == [False, True]
