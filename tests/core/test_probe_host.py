"""ProbeHost makes the probes of views on screen with the run, the others after its first trained
snapshot (or once shown), so that snapshot does not wait for probes nobody looks at."""

from __future__ import annotations

from types import SimpleNamespace

from gpuviz_app.core.probe_demand import ProbeDemand
from gpuviz_app.core.probe_host import ProbeHost
from gpuviz_app.core.probes import Probe


class Named(Probe):
    def __init__(self, made: list[str], name: str) -> None:
        made.append(name)
        self.name = name
        self.options: dict = {}
        self.shown = None

    def __call__(self, context):
        return context.step

    def configure(self, options):
        self.options.update(options)

    def set_shown(self, shown):
        self.shown = shown


def test_hidden_probes_are_made_after_the_first_trained_round_and_shown_ones_at_once():
    made: list[str] = []
    factories = {name: (lambda context, name=name: Named(made, name)) for name in ("a", "b", "c")}
    host = ProbeHost(factories, ProbeDemand(shown={"a"}))
    host.configure("b", {"grid": 9})
    context = SimpleNamespace(step=0)
    host.start_run(context)
    assert made == ["a"] and host.unmade == {"b", "c"} and host.probes["a"].shown
    host.collect(context)  # the run's step 0
    assert made == ["a"]
    host.set_shown({"a", "c"})  # a view shown before the first step: its probe now
    assert made == ["a", "c"] and host.probes["c"].shown
    context.step = 1
    host.collect(context)  # the round that publishes the first trained snapshot
    assert made == ["a", "c"] and host.parts["c"] == 1
    context.step = 2
    host.collect(context)  # the next one makes the rest, with the options kept for them
    assert made == ["a", "c", "b"] and host.unmade == set()
    assert host.probes["b"].options == {"grid": 9} and host.probes["b"].shown is False
    host.close()
    assert host.unmade == set() and host.probes == {}
    host.make(context)
    host.make_rest()  # synchronous use makes them all now
    assert sorted(host.probes) == ["a", "b", "c"]


def test_with_a_window_the_rest_wait_until_it_says_what_is_shown_after_the_first_trained_frame():
    made: list[str] = []
    factories = {name: (lambda context, name=name: Named(made, name)) for name in ("a", "b", "c")}
    host = ProbeHost(factories, ProbeDemand(shown={"a"}), rest_when_shown=True)
    context = SimpleNamespace(step=0)
    host.start_run(context)
    host.set_shown({"a"})  # said before any trained round: nothing more is made
    assert made == ["a"]
    for step in (1, 2, 3):  # the first trained snapshot is published, and rounds after it
        context.step = step
        host.collect(context)
    assert made == ["a"], "probes nobody looks at were made while the first trained frame is painted"
    host.set_shown({"a", "b"})  # the window has painted it: the shown ones, then the rest
    assert made == ["a", "b", "c"] and host.probes["b"].shown and host.probes["c"].shown is False
