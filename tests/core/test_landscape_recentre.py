"""The surface follows the weights: re-centred on drift and at the end of a run; one colour scale per grid."""

import threading

import pytest
import torch

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.probes import probe_factories
from gpuviz_app.core.probes.landscape.probe import LandscapeProbe
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.data.builtin import digits
from gpuviz_app.data.device import DeviceDataset

FAST = {"resolution": 11, "eval_batch": 64}


@pytest.fixture(scope="module")
def data():
    return DeviceDataset(digits(), "cpu")


def test_at_the_end_of_a_recorded_run_the_surface_is_centred_on_its_last_step_not_0():
    s = TrainingSession(digits, device="cpu", max_steps=120, probes=probe_factories({"landscape"}))
    s.configure_probe("landscape", FAST)  # recentre_every stays 500: only the drift and the end move it
    s.advance(0, settle=True)
    centres = {}
    for _ in range(4):
        snap = s.advance(30, settle=True)
        centres[snap.step] = snap.parts["landscape"].centre_step
    s.close()
    assert centres[30] > 0 and centres[90] >= 30  # drifted: re-centred on the way
    p = snap.parts["landscape"]
    assert snap.finished and p.centre_step == 120 and p.state == "done"
    assert p.path_steps[-1] == 120 and p.path[-1, :2].abs().max() == 0  # the current point is the centre
    assert float(p.path[-1, 2]) == pytest.approx(p.centre_loss, abs=1e-6)


def test_the_drift_rule_re_centres_once_the_weights_left_a_quarter_of_the_grid_s_reach(data):
    trainer = Trainer(data, TrainConfig(lr=0.003))
    probe = LandscapeProbe(trainer.context)
    probe.configure(dict(FAST, recentre_every=0, recentre_drift=0.25))
    probe.settle(trainer.context, 60)
    layout = probe.computer.evaluator.layout
    centre = layout.flatten(trainer.model)
    # random filter-normalised directions at span 1 reach as far as the centre's filters
    reach = float((centre * layout.filter_mask("cpu")).norm())
    drifts = []
    while True:
        trainer.train(2)
        drift = float((layout.flatten(trainer.model) - centre).norm()) / reach
        probe.settle(trainer.context, 60)
        p = probe(trainer.context)
        if p.centre_step != 0:
            break
        drifts.append(drift)
        assert trainer.step_count < 200, "never re-centred"
    probe.close()
    assert drift >= 0.25 and all(d < 0.25 for d in drifts)
    assert p.centre_step == trainer.step_count


def test_drift_off_keeps_the_centre():
    s = TrainingSession(digits, device="cpu", probes=probe_factories({"landscape"}))
    s.configure_probe("landscape", dict(FAST, recentre_drift=0.0))
    s.advance(0, settle=True)
    snap = s.advance(60, settle=True)
    s.close()
    assert snap.parts["landscape"].centre_step == 0


def test_a_live_run_that_ends_publishes_a_surface_centred_on_its_final_weights():
    s = TrainingSession(digits, device="cpu", max_steps=40, probes=probe_factories({"landscape"}))
    s.configure_probe("landscape", dict(FAST, recentre_drift=0.0))
    t = threading.Thread(target=s.run, kwargs={"until_finished": True}, daemon=True)
    t.start()
    t.join(120)
    assert not t.is_alive()
    snap = s.mailbox.peek()
    p = snap.parts["landscape"]
    assert snap.finished and snap.step == 40
    assert p.centre_step == 40 and p.state == "done"


def test_the_colour_scale_comes_from_the_grid_and_path_losses_do_not_stretch_it(data):
    trainer = Trainer(data, TrainConfig(lr=0.01))
    probe = LandscapeProbe(trainer.context)
    probe.configure(dict(FAST, recentre_every=0, recentre_drift=0.0))
    probe.settle(trainer.context, 60)
    first = probe(trainer.context)
    for _ in range(2):
        trainer.train(10)
        probe.settle(trainer.context, 60)
    later = probe(trainer.context)
    probe.close()
    assert later.grid_version == first.grid_version and later.path_version > first.path_version
    assert (later.low, later.clip) == (first.low, first.clip)
    assert float(later.path[-1, 2]) < later.low  # training went below the surface; the scale stayed
    grid = first.grid[first.grid < 1e30]
    assert first.low == pytest.approx(float(grid.min())) and first.clip <= float(grid.max()) + 1e-6
    assert torch.equal(later.grid, first.grid)


def test_a_run_that_ends_before_its_final_surface_is_done_publishes_it_once_done(monkeypatch):
    import time

    import gpuviz_app.core.session as session_module

    monkeypatch.setattr(session_module, "FINAL_SETTLE_S", 0.0)  # no waiting at the end at all
    s = TrainingSession(digits, device="cpu", max_steps=20, probes=probe_factories({"landscape"}))
    s.configure_probe("landscape", dict(FAST, recentre_drift=0.0))
    t = threading.Thread(target=s.run, daemon=True)
    t.start()

    def final_surface():
        snap = s.mailbox.peek()
        p = snap.parts.get("landscape") if snap is not None else None
        return snap is not None and snap.finished and p is not None and p.centre_step == 20 and p.state == "done"

    end = time.monotonic() + 120
    while not final_surface() and time.monotonic() < end:
        time.sleep(0.05)
    s.stop()
    t.join(10)
    assert final_surface() and not t.is_alive()
