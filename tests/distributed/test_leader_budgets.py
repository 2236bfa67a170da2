"""A distributed job's leader: every second its probes take, every other rank waits for in the
next collective, so its probes, its weights tracking and its messages get a scaled part of the
budgets a single process has. Run here as a one-rank job in this process."""

from __future__ import annotations

import shutil
import tempfile

import pytest
import torch
import torch.distributed as dist

import gpuviz_app as gv
from gpuviz_app.core.attached_run import hosting
from gpuviz_app.core.distributed.job import LEADER_BUDGET_SCALE
from gpuviz_app.core.probes.landscape.background import default_share
from gpuviz_app.core.probes.weights.probe import WeightsProbe
from gpuviz_app.sources import sender as sender_module
from gpuviz_app.sources.remote import Listener
from gpuviz_app.sources.sender import PROBE_SHARE, RemoteSender

VIEWS = ("weights", "embedding", "landscape")


@pytest.fixture
def address():
    folder = tempfile.mkdtemp(prefix="gv")  # short: a Unix socket path has a length limit
    yield f"ipc://{folder}/w.sock"
    shutil.rmtree(folder, ignore_errors=True)


def _train(address: str, distributed: bool) -> tuple[RemoteSender, object]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    listener = Listener(address, shown=VIEWS)
    sender = RemoteSender(address)
    if distributed:
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        with hosting(sender):
            viz = gv.attach(model, loss_fn=torch.nn.MSELoss(), sample=(x, y), dist=distributed, every=4)
        for _ in range(120):
            loss = torch.nn.functional.mse_loss(model(x), y)
            model.zero_grad()
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.05 * p.grad
            viz.step(loss=loss)
        state = (sender, viz._attached.context, dict(sender.probe_host.probes))
        viz.close()
    finally:
        sender.close()
        listener.close()
        if distributed:
            dist.destroy_process_group()
    return state


def test_the_leader_s_probes_messages_and_tracking_spend_a_scaled_part_of_their_budgets(address):
    sender, context, probes = _train(address, distributed=True)
    scale = LEADER_BUDGET_SCALE
    assert 0 < scale < 1 and context.budget_scale == scale
    for name in VIEWS:
        assert sender.demand.budget(name) == pytest.approx(min(probes[name].budget * scale, PROBE_SHARE))
    weights = probes["weights"]
    assert weights.bursts is not None and weights.bursts.share == pytest.approx(WeightsProbe.budget * scale)
    assert 0 < weights.columns.tracked_steps < 120  # in bursts: not every step
    assert probes["landscape"].computer.share == pytest.approx(default_share(torch.device("cpu")) * scale)
    share = sender_module.MESSAGE_SHARE * scale
    assert sender._publish_gap == pytest.approx(
        min(max(sender.publish_interval, sender._message_time / share), sender_module.MAX_PUBLISH_GAP_S))


def test_a_single_process_keeps_the_whole_budgets_and_tracks_every_step(address):
    sender, context, probes = _train(address, distributed=False)
    assert context.budget_scale == 1.0
    assert sender.demand.budget("embedding") == pytest.approx(min(probes["embedding"].budget, PROBE_SHARE))
    assert probes["weights"].bursts is None
    assert probes["landscape"].computer.share == pytest.approx(default_share(torch.device("cpu")))
