"""The CPU tracker binning on a worker thread gives exactly the columns of binning in the step hook."""

import numpy as np
import torch

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.probes.weights import step_tracker
from gpuviz_app.core.probes.weights.probe import find_layers
from gpuviz_app.core.probes.weights.step_tracker import StepTracker
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.data.builtin import digits
from gpuviz_app.data.device import DeviceDataset


class Mischief:
    """A step hook run before the trackers: non-finite and all-zero gradients, a jump in the weights."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.params = [layer.weight for layer in find_layers(trainer.model)]

    def __call__(self, context):
        step = context.step
        if step == 4:
            self.params[0].grad.view(-1)[:3] = torch.tensor([float("nan"), float("inf"), float("-inf")])
        if step in (6, 7):
            self.params[1].grad.zero_()
        if step == 9:
            self.params[-1].mul_(40.0)  # far outside the grid fitted so far
        if step == 15:
            self.params[2].grad = None  # a layer without gradient this step


def columns_of(tracker):
    c = tracker.columns
    n = c.n
    return {"counts": c.counts[:n], "e": c.e[:n], "k0": c.k0[:n], "lo": c.lo[:n], "hi": c.hi[:n],
            "nonfinite": c.nonfinite[:n], "health": c.health[:n], "steps": torch.as_tensor(c.column_steps()),
            "tracked": torch.as_tensor(c.tracked_per_column())}


def test_binning_on_a_worker_equals_binning_in_the_hook_across_nan_zeros_jumps_merges_and_a_gap(one_thread):
    trainer = Trainer(DeviceDataset(digits(), "cpu"), TrainConfig())
    trainer.add_step_hook(Mischief(trainer))
    params = [layer.weight for layer in find_layers(trainer.model)]
    here = StepTracker(params, "cpu", capacity=8, max_rows=5, background=False)
    worker = StepTracker(params, "cpu", capacity=8, max_rows=5, background=True)
    assert worker.background and not here.background
    removers = [trainer.add_step_hook(t) for t in (here, worker)]
    trainer.train(12)
    here.flush()
    worker.flush()
    trainer.train(8)
    for t, remove in zip((here, worker), removers):  # a gap: the view hidden for 3 steps
        t.flush()
        remove()
    trainer.train(3)
    for t in (here, worker):
        t.resume()
        trainer.add_step_hook(t)
    trainer.train(14)
    here.flush()
    worker.flush()
    a, b = columns_of(here), columns_of(worker)
    assert here.columns.stride > 1  # the columns merged
    assert int(a["nonfinite"].sum()) == 3
    assert worker.exact_steps == here.exact_steps >= 2
    for key in a:
        if key == "health":
            torch.testing.assert_close(a[key], b[key], rtol=1e-6, atol=0, equal_nan=True)
        else:
            assert torch.equal(a[key], b[key]), key
    assert worker.columns.tracked_steps == 34
    dead = b["health"][:, 3].sum(0)  # steps with an all-zero or missing gradient, per layer
    np.testing.assert_array_equal(dead.numpy(), [0, 2, 1, 0])
    assert worker.worker_time > 0 and here.worker_time == 0


def test_the_worker_is_used_only_with_a_core_to_spare(monkeypatch):
    params = [torch.nn.Parameter(torch.randn(4, 3))]
    monkeypatch.setattr(step_tracker, "spare_core", lambda: False)
    assert not StepTracker(params, "cpu").background
    monkeypatch.setattr(step_tracker, "spare_core", lambda: True)
    assert StepTracker(params, "cpu").background
