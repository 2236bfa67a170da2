"""Tracking the weights in bursts (a run whose probe budgets are scaled down): bursts of
consecutive steps, each step's histogram and update exact, gaps while the tracker's time is
over its share of the training's."""

from dataclasses import replace

import pytest
import torch

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.probes.weights import histogram as H
from gpuviz_app.core.probes.weights.bursts import BurstTracking
from gpuviz_app.core.probes.weights.probe import WeightsProbe, find_layers
from gpuviz_app.core.probes.weights.step_tracker import StepTracker
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.data.builtin import digits
from gpuviz_app.data.device import DeviceDataset


class Clock:
    """Time that moves only when the test says: training between hook calls, the tracker's work."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Calls:
    """A tracker that notes what it was asked to do; tracking a step takes `cost` seconds."""

    def __init__(self, clock, cost=1.0):
        self.clock, self.cost = clock, cost
        self.log = []

    def __call__(self, context):
        self.log.append(("track", context.step))
        self.clock.now += self.cost

    def resume(self):
        self.log.append(("resume", None))

    def flush(self):
        self.log.append(("flush", None))


class Costly:
    """A real tracker whose steps take `cost` seconds of the test's clock."""

    def __init__(self, tracker, clock, cost=1.0):
        self.tracker, self.clock, self.cost = tracker, clock, cost

    def __call__(self, context):
        self.tracker(context)
        self.clock.now += self.cost

    def resume(self):
        self.tracker.resume()

    def flush(self):
        self.tracker.flush()


class Step:
    def __init__(self, step):
        self.step = step


def test_bursts_of_consecutive_steps_start_with_a_resume_and_end_with_a_flush():
    clock = Clock()
    calls = Calls(clock)  # tracking a step costs as much as the step
    bursts = BurstTracking(calls, share=0.25, burst=4, clock=clock)
    for step in range(1, 101):
        clock.now += 1.0  # the step's training
        bursts(Step(step))
    tracked = [step for what, step in calls.log if what == "track"]
    runs = []
    for step in tracked:
        if runs and step == runs[-1][-1] + 1:
            runs[-1].append(step)
        else:
            runs.append([step])
    assert len(runs) >= 3 and all(len(run) == 4 for run in runs[:-1]) and len(runs[-1]) <= 4
    assert tracked[0] == 2  # the step after the first resume
    for run in runs[:-1]:  # each burst: resume at the step before it, flush at its last step
        start = calls.log.index(("track", run[0]))
        assert calls.log[start - 1] == ("resume", None)
        end = calls.log.index(("track", run[-1]))
        assert calls.log[end + 1] == ("flush", None)
    assert bursts.tracked_steps == len(tracked)
    assert bursts.trained == pytest.approx(99.0)  # the time between calls, the tracker's own left out
    assert bursts.spent == pytest.approx(len(tracked))
    # a burst starts only while the time spent is within the share: over by one burst at most
    assert bursts.spent <= bursts.share * bursts.trained + bursts.burst
    assert bursts.spent >= bursts.share * bursts.trained - bursts.burst


def test_a_restart_after_a_pause_leaves_the_pause_uncounted_and_ends_the_burst():
    clock = Clock()
    calls = Calls(clock)
    bursts = BurstTracking(calls, share=0.25, burst=4, clock=clock)
    for step in range(1, 3):
        clock.now += 1.0
        bursts(Step(step))
    assert calls.log == [("resume", None), ("track", 2)]
    trained = bursts.trained
    clock.now += 1000.0  # the hook was removed for a while (its view hidden)
    bursts.restart()
    clock.now += 1.0
    bursts(Step(50))
    assert bursts.trained == trained
    assert ("track", 50) not in calls.log  # over its share: the burst does not go on after the pause


def test_a_step_that_spans_a_pause_counts_as_a_typical_step_and_brings_no_burst():
    def tracked_steps(pause: float) -> tuple[list[int], float]:
        clock = Clock()
        calls = Calls(clock, cost=0.1)
        bursts = BurstTracking(calls, share=0.05, burst=4, clock=clock)
        for step in range(1, 14):
            clock.now += pause if step == 6 else 1.0  # step 6 spans a pause: the process stopped, a checkpoint
            bursts(Step(step))
        return [step for what, step in calls.log if what == "track"], bursts.trained

    paused, trained = tracked_steps(1000.0)
    assert paused == tracked_steps(1.0)[0]  # the pause bought no burst: as if it had not been
    assert paused[:4] == [2, 3, 4, 5] and paused[4] > 7
    assert trained == pytest.approx(tracked_steps(1.0)[1])


def test_the_steps_tracked_in_bursts_hold_their_exact_histograms_and_updates(one_thread):
    trainer = Trainer(DeviceDataset(digits(), "cpu"), TrainConfig())
    params = [layer.weight for layer in find_layers(trainer.model)]
    every = StepTracker(params, "cpu", capacity=256, max_rows=8, background=False)
    paced = StepTracker(params, "cpu", capacity=256, max_rows=8, background=False)
    clock = Clock()
    bursts = BurstTracking(Costly(paced, clock), share=0.2, burst=5, clock=clock)
    weights = {}
    trainer.add_step_hook(lambda context: setattr(clock, "now", clock.now + 1.0))  # the step's training
    trainer.add_step_hook(lambda context: weights.__setitem__(context.step, [p.detach().clone() for p in params]))
    trainer.add_step_hook(every)
    trainer.add_step_hook(bursts)
    trainer.train(120)
    every.flush()
    paced.flush()
    c, a = paced.columns, every.columns
    assert c.stride == a.stride == 1  # one column a step: columns compare step by step
    held = c.tracked_per_column()
    spans = c.column_steps()
    tracked = [int(spans[i, 0]) for i in range(c.n) if held[i]]
    assert len(tracked) == bursts.tracked_steps and 0 < len(tracked) < 60
    assert all(held[i] == 0 for i in range(c.n) if int(spans[i, 0]) not in tracked)
    first_every = int(a.column_steps()[0, 0])
    for i in range(c.n):
        if not held[i]:
            continue
        step = int(spans[i, 0])
        for layer, w in enumerate(weights[step]):
            expected = H.count(H.bin_index(w.reshape(-1), c.e[i, layer], c.k0[i, layer]), c.bins, sanitise=True)
            assert torch.equal(c.counts[i, layer], expected), (step, layer)
        # the update's norm is measured from the step before, as when every step is tracked
        j = step - first_every
        torch.testing.assert_close(c.health[i], a.health[j], rtol=1e-6, atol=0)


def test_a_run_with_scaled_budgets_tracks_its_weights_in_bursts_and_a_plain_run_every_step(one_thread):
    trainer = Trainer(DeviceDataset(digits(), "cpu"), TrainConfig())
    small = WeightsProbe(replace(trainer.context, budget_scale=0.1))  # its hooks are the trainer's
    whole = WeightsProbe(trainer.context)
    trainer.train(300)
    assert small.bursts is not None and whole.bursts is None
    assert small.bursts.share == pytest.approx(0.1 * WeightsProbe.budget)
    assert not small.tracker.background  # its binning is timed in the hook, where it is paid for
    whole.tracker.flush()
    small.tracker.flush()
    assert whole.columns.tracked_steps == 300
    assert 0 < small.columns.tracked_steps == small.bursts.tracked_steps < 300
