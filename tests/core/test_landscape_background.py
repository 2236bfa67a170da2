"""The background computer, the probe and their place in the session."""

import threading

import pytest
import torch
from torch import nn

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.probes.landscape.background import LandscapeComputer, Weights
from gpuviz_app.core.probes.landscape.evaluate import SurfaceEvaluator
from gpuviz_app.core.probes.landscape.levels import ProgressiveGrid
from gpuviz_app.core.probes.landscape.params import random_directions
from gpuviz_app.core.probes.landscape.payload import LandscapeOptions
from gpuviz_app.core.probes.landscape.probe import LandscapeProbe
from gpuviz_app.core.probes import probe_factories
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.data.builtin import digits
from gpuviz_app.data.device import DeviceDataset
from tests.core.test_landscape_math import quadratic_setup

FAST = {"resolution": 11, "eval_batch": 64}


@pytest.fixture
def computers():
    made = []

    def make(*args, **kwargs):
        c = LandscapeComputer(*args, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
        assert not c.alive


@pytest.fixture(scope="module")
def data():
    return DeviceDataset(digits(), "cpu")


def trainer_on(data, **config):
    return Trainer(data, TrainConfig(**config))


def test_the_background_grid_of_a_quadratic_equals_the_formula(computers):
    model, loss_fn, x, y, a, t = quadratic_setup()
    ev = SurfaceEvaluator(model, loss_fn, x, y)
    c = computers(ev)
    centre = ev.layout.flatten(model)
    opts = LandscapeOptions(resolution=21, span=0.5, include_bias=True, seed=4)
    c.recentre(Weights(step=0, flat=centre, options=opts))
    assert c.wait_idle(60)
    p = c.latest()
    assert p.state == "done" and p.finished_side == 21 and p.progress == 1.0
    dirs = random_directions(centre, ev.layout, 2, seed=4, include_bias=True)
    coords = ProgressiveGrid(21, 2, "cpu").coords(torch.arange(21 * 21), (0.5, 0.5))
    w = centre + coords @ dirs
    expected = (a * (w - t) ** 2).sum(dim=1).view(21, 21)
    torch.testing.assert_close(p.grid, expected, rtol=1e-5, atol=1e-5)
    assert p.centre_loss == pytest.approx(float((a * (centre - t) ** 2).sum()), rel=1e-5)
    assert p.low <= float(expected.min()) + 1e-5 and p.low < p.clip <= float(expected.max()) + 1e-4


def test_background_refinement_shows_a_coarse_grid_before_the_full_one(computers, data):
    trainer = trainer_on(data)
    seen = []
    probe = LandscapeProbe(trainer.context)
    probe.configure({"resolution": 21, "eval_batch": 64})
    probe._ensure_computer(trainer.context)
    probe.computer.on_publish = lambda p: seen.append((p.finished_side, p.progress, tuple(p.grid.shape)))
    probe(trainer.context)
    assert probe.computer.wait_idle(120)
    probe.close()
    sides = [s for s, _, _ in seen]
    assert sides[0] == 6 and sides[-1] == 21
    assert sorted(sides) == sides and {6, 11, 21} <= set(sides)
    assert seen[0][1] < 0.1  # the first picture needs few of the points ...
    assert all(shape == (21, 21) for _, _, shape in seen)  # ... and is already full size


def test_cancel_stops_the_refinement(computers, data):
    trainer = trainer_on(data)
    first = threading.Event()
    ev = SurfaceEvaluator(trainer.model, trainer.loss_fn, data.x[:64], data.y[:64], chunk=4)
    c = computers(ev, share=0.05, on_publish=lambda p: first.set())
    c.recentre(Weights(step=0, flat=ev.layout.flatten(trainer.model), options=LandscapeOptions(resolution=101)))
    assert first.wait(60)
    c.cancel()
    assert c.wait_idle(60, unthrottled=False)
    p = c.latest()
    assert p.state == "cancelled" and p.progress < 1.0
    done = c._job.grid.done_points
    assert c.wait_idle(0.3, unthrottled=False) and c._job.grid.done_points == done  # nothing more computed


def test_a_recentre_uses_the_newest_weights_copied_at_that_moment(data):
    trainer = trainer_on(data, lr=0.01)
    probe = LandscapeProbe(trainer.context)
    probe.configure(dict(FAST, recentre_every=0))
    assert probe.settle(trainer.context, 60)
    assert probe(trainer.context).centre_step == 0
    trainer.train(30)
    probe.act("recentre")  # on demand
    probe(trainer.context)
    newest = probe.computer.evaluator.layout.flatten(trainer.model)
    trainer.train(20)  # training goes on while the grid is computed
    assert probe.computer.wait_idle(60)
    p = probe(trainer.context)
    ev = probe.computer.evaluator  # (the evaluator belongs to the background thread: use it only when idle)
    assert p.centre_step == 30 and p.state == "done"
    assert p.centre_loss == pytest.approx(float(ev.loss(newest)), abs=1e-6)
    assert float(p.grid[5, 5]) == pytest.approx(p.centre_loss, abs=1e-5)  # the centre of the grid
    assert float(ev.loss(ev.layout.flatten(trainer.model))) != pytest.approx(p.centre_loss, abs=1e-4)
    probe.close()


def test_recentres_every_k_steps_once_the_grid_is_done(data):
    trainer = trainer_on(data)
    probe = LandscapeProbe(trainer.context)
    probe.configure(dict(FAST, recentre_every=20, recentre_drift=0.0))
    centres = []
    for _ in range(5):
        probe.settle(trainer.context, 60)
        centres.append(probe(trainer.context).centre_step)
        trainer.train(10)
    probe.close()
    assert centres == [0, 0, 20, 20, 40]


def test_the_path_carries_the_loss_measured_at_each_point(data):
    trainer = trainer_on(data, lr=0.01)
    probe = LandscapeProbe(trainer.context)
    probe.configure(dict(FAST, recentre_every=1000, recentre_drift=0.0))
    probe.settle(trainer.context, 60)
    ev = probe.computer.evaluator
    measured = {}
    for _ in range(4):
        trainer.train(10)
        measured[trainer.step_count] = float(ev.loss(ev.layout.flatten(trainer.model)))
        probe.settle(trainer.context, 60)
    p = probe(trainer.context)
    probe.close()
    assert p.path_steps == (0, 10, 20, 30, 40)
    for step, loss in measured.items():
        assert float(p.path[p.path_steps.index(step), 2]) == pytest.approx(loss, abs=1e-5)
    # the path leaves the centre, and its losses are not the surface's (training went off the plane)
    assert float(p.path[-1, 2]) < float(p.path[0, 2]) - 0.3
    assert p.path[0, :2].abs().max() == 0 and p.path[-1, :2].abs().max() > 0


def test_pca_directions_come_from_the_path_with_explained_variance(data):
    trainer = trainer_on(data, lr=0.01)
    probe = LandscapeProbe(trainer.context)
    probe.configure(dict(FAST, recentre_every=1000, recentre_drift=0.0, mode="pca"))
    probe.settle(trainer.context, 60)
    assert "random directions for now" in probe(trainer.context).message  # no path yet
    for _ in range(6):
        trainer.train(10)
        probe.settle(trainer.context, 60)
    probe.act("recentre")
    probe.settle(trainer.context, 60)
    p = probe(trainer.context)
    probe.close()
    assert p.mode == "pca" and p.centre_step == 60 and p.message == ""
    assert p.axis_labels[0].startswith("PC1 ") and p.axis_labels[0].endswith("%")
    share = float(p.axis_labels[0][4:-1])
    assert 50 < share <= 100
    assert p.path.shape[0] == 7 and p.path_steps[-1] == 60
    assert p.span[0] >= float(p.path[:, 0].abs().max())  # the grid covers the path


def test_slice_mode_gives_a_profile(data):
    trainer = trainer_on(data)
    probe = LandscapeProbe(trainer.context)
    probe.configure(dict(FAST, mode="slice"))
    probe.settle(trainer.context, 60)
    p = probe(trainer.context)
    probe.close()
    assert p.grid.shape == (11,) and p.mode == "slice"
    assert float(p.grid[5]) == pytest.approx(p.centre_loss, abs=1e-5)


def test_errors_become_a_message_and_the_thread_survives(computers):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(2, 2))

        def forward(self, x):
            raise RuntimeError("no forward today")

    ev = SurfaceEvaluator(Broken(), nn.MSELoss(), torch.zeros(2, 2), torch.zeros(2, 2), chunk=2)
    c = computers(ev)
    c.recentre(Weights(step=0, flat=torch.ones(4)))
    assert c.wait_idle(30)
    p = c.latest()
    assert p.state == "error" and "no forward today" in p.message
    assert c.alive


def test_the_session_hands_options_to_the_probe_and_stops_its_thread():
    s = TrainingSession(digits, device="cpu", max_steps=40, probes=probe_factories({"landscape"}))
    s.configure_probe("landscape", dict(FAST, mode="slice"))
    snap = s.advance(20, settle=True)
    p = snap.parts["landscape"]
    assert p.mode == "slice" and p.state == "done" and p.centre_step == 20
    probe = s.probes["landscape"]
    assert probe.computer.alive
    t = threading.Thread(target=s.run, kwargs={"until_finished": True}, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive() and s.mailbox.peek().step == 40
    assert not probe.computer.alive  # closed when the loop ended


def test_a_new_run_closes_the_old_probe_and_keeps_its_options():
    s = TrainingSession(digits, device="cpu", probes=probe_factories({"landscape"}))
    s.configure_probe("landscape", dict(FAST, mode="slice"))
    s.advance(5, settle=True)
    old = s.probes["landscape"]
    s.reset()
    snap = s.advance(0, settle=True)
    assert not old.computer.alive
    assert s.probes["landscape"] is not old and snap.parts["landscape"].mode == "slice"
    s.close()


def test_settled_frames_do_not_depend_on_timing():
    grids = []
    for _ in range(2):
        s = TrainingSession(digits, device="cpu", probes=probe_factories({"landscape"}))
        s.configure_probe("landscape", dict(FAST, recentre_every=10))
        for _ in range(4):
            snap = s.advance(6, settle=True)
        s.close()
        p = snap.parts["landscape"]
        grids.append((p.centre_step, p.path_steps, p.grid.clone(), p.path.clone()))
    (c1, s1, g1, p1), (c2, s2, g2, p2) = grids
    assert c1 == c2 == 18 and s1 == s2
    # Same steps, same values: only rounding may differ, because each session measures which
    # evaluation strategy (one forward per point, or vmap over blocks) is faster and may choose another.
    torch.testing.assert_close(g1, g2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(p1, p2, rtol=1e-5, atol=1e-6)


def test_the_probe_returns_at_once_while_the_grid_is_computed_on_its_own_thread(data):
    trainer = trainer_on(data)
    probe = LandscapeProbe(trainer.context)
    probe.configure({"resolution": 101, "eval_batch": 64})
    probe(trainer.context)  # hands the centre over and returns long before the 101 x 101 grid is done
    assert not probe.computer.grid_done()
    trainer.train(3)  # training goes on meanwhile
    assert probe.computer._thread is not threading.current_thread() and probe.computer.alive
    probe.cancel()
    probe.close()


def test_the_background_runs_with_its_own_small_thread_budget_while_training_runs(computers, data):
    trainer = trainer_on(data)
    ev = SurfaceEvaluator(trainer.model, trainer.loss_fn, data.x[:32], data.y[:32])
    threads, done = [], threading.Event()
    steps = iter(range(10**9))

    def on_publish(p):
        threads.append(torch.get_num_threads())
        if p.state == "done":
            done.set()

    c = computers(ev, share=1.0, workers=1, on_publish=on_publish, activity=lambda: next(steps))
    c.recentre(Weights(step=0, flat=ev.layout.flatten(trainer.model), options=LandscapeOptions(resolution=11)))
    assert done.wait(60)
    assert threads and set(threads) == {1}


def test_rushing_spreads_points_over_workers_and_never_widens_the_thread(computers, data):
    """A second OpenMP team in the process slows training for good: the landscape thread
    keeps one torch thread, even while it works at full speed."""
    trainer = trainer_on(data)
    ev = SurfaceEvaluator(trainer.model, trainer.loss_fn, data.x[:32], data.y[:32], chunk=8)
    seen = []
    plane_losses = ev.plane_losses

    def recording(*args):
        seen.append((torch.get_num_threads(), ev.workers))
        return plane_losses(*args)

    ev.plane_losses = recording
    c = computers(ev, share=0.5, workers=1)
    c.full_workers = 2  # whatever this machine's core count
    with c.unthrottled():  # from before the first chunk, so no chunk runs throttled
        c.recentre(Weights(step=0, flat=ev.layout.flatten(trainer.model), options=LandscapeOptions(resolution=11)))
        assert c.wait_idle(60)
    assert seen and {threads for threads, _ in seen} == {1}
    assert {workers for _, workers in seen} == {2}
