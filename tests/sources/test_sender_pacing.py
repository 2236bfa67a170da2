"""The sender spaces its messages so that making them stays within a share of a core: a message
that costs more than the share holds the next one back, and the run's end is still sent."""

from __future__ import annotations

import shutil
import tempfile
import time

import pytest
import torch

import gpuviz_app as gv
from gpuviz_app.core.attached_run import hosting
from gpuviz_app.sources import sender as sender_module
from gpuviz_app.sources.remote import Listener
from gpuviz_app.sources.sender import RemoteSender

WAIT_S = 120.0


@pytest.fixture
def address():
    folder = tempfile.mkdtemp(prefix="gv")  # short: a Unix socket path has a length limit
    yield f"ipc://{folder}/w.sock"
    shutil.rmtree(folder, ignore_errors=True)


def test_a_message_costing_more_than_its_share_of_a_core_holds_the_next_ones_back(address, monkeypatch):
    monkeypatch.setattr(sender_module, "MESSAGE_SHARE", 1e-12)  # any message costs more than this
    monkeypatch.setattr(sender_module, "MAX_PUBLISH_GAP_S", float("inf"))
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    listener = Listener(address, shown=())
    sender = RemoteSender(address, publish_hz=1e9)  # asked for a message every step
    try:
        with hosting(sender):
            viz = gv.attach(model, loss_fn=torch.nn.MSELoss(), sample=(x, y))
        deadline = time.monotonic() + WAIT_S
        while sender.stats["sent"] == 0 and time.monotonic() < deadline:  # until a window took one
            viz.step(loss=torch.nn.functional.mse_loss(model(x), y))
        assert sender.stats["sent"] == 1
        for _ in range(30):
            viz.step(loss=torch.nn.functional.mse_loss(model(x), y))
        assert sender.stats["sent"] == 1  # held back: the first message used up the share
        viz.close()
        assert sender.stats["sent"] == 2  # the run's end is sent whatever it costs
        assert listener.wait_for(lambda lis: bool(lis.runs()) and lis.runs()[0].finished, WAIT_S)
        run = listener.runs()[0]
        assert run.latest.step == viz.step_count
        assert run.history.total("train_loss") == viz.step_count  # the held-back steps' rows came with it
    finally:
        sender.close()
        listener.close()


def test_a_step_that_spans_a_pause_brings_no_message_closer(address):
    model = torch.nn.Linear(4, 1)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    sender = RemoteSender(address, publish_hz=1.0)  # a message a second of training (no window: each one skipped)
    try:
        with hosting(sender):
            viz = gv.attach(model, loss_fn=torch.nn.MSELoss(), sample=(x, y))
        for _ in range(20):
            viz.step(loss=0.5)
        made = sender.stats["skipped"]
        time.sleep(1.5)  # the process paused between two steps (a debugger, a checkpoint)
        viz.step(loss=0.5)
        assert sender.stats["skipped"] == made  # 1.5 s passed, but not 1 s of training
        viz.close()
    finally:
        sender.close()
