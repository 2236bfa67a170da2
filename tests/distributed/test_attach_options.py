"""`attach`'s distributed options without launching ranks: the options' checks, the handshake's
sentences, the straggler rule, and a one-rank job run in this process by `ScriptSource`, whose
snapshots carry the merged part and the per-rank series like a remote window's do."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

import gpuviz_app as gv
from gpuviz_app.core.distributed.job import handshake_problem
from gpuviz_app.core.distributed.payload import DistributedPayload
from gpuviz_app.core.distributed.timing import straggler
from gpuviz_app.core.probes import probe_factories
from gpuviz_app.sources.script import ScriptSource


@pytest.mark.parametrize("every", [0, -3, 2.5, True, "10"])
def test_every_must_be_a_positive_whole_number(every):
    with pytest.raises(ValueError, match=r"^gpuviz attach: every must be a positive whole number of steps"):
        gv.attach(torch.nn.Linear(2, 1), sample=torch.randn(4, 2), every=every)


def test_dist_takes_auto_off_or_a_bool():
    with pytest.raises(ValueError, match=r"^gpuviz attach: dist must be 'auto', 'off', True or False, not 'yes'$"):
        gv.attach(torch.nn.Linear(2, 1), sample=torch.randn(4, 2), dist="yes")


def test_dist_true_without_a_process_group_says_what_is_missing():
    assert not torch.distributed.is_initialized()
    with pytest.raises(ValueError, match=r"^gpuviz attach: dist=True needs an initialised torch.distributed"):
        gv.attach(torch.nn.Linear(2, 1), sample=torch.randn(4, 2), dist=True)


def test_the_handshake_names_the_first_rank_and_setting_that_differ():
    agree = [1, 10, 2, 777, 526]
    assert handshake_problem([agree, agree, agree]) == ""
    assert handshake_problem([agree, agree, [1, 20, 2, 777, 526]]) == (
        "gpuviz attach: rank 2 gave every=20 but rank 0 gave every=10; every rank must give the same value")
    assert "rank 1's model has 3 DTensor parameters but rank 0's has 2" in handshake_problem(
        [agree, [1, 10, 3, 5, 790]])
    assert "differ from rank 0's in names or shapes" in handshake_problem([agree, [1, 10, 2, 778, 526]])
    assert "install the same gpuviz on every rank" in handshake_problem([agree, [2, 10, 2, 777, 526]])


def test_the_straggler_is_the_rank_waiting_least_when_the_waits_spread_clearly():
    step = np.array([0.1, 0.1, 0.1])
    assert straggler(np.array([0.05, 0.002, 0.06]), step) == 1
    assert straggler(np.array([0.001, 0.05, 0.06]), step) == 0
    assert straggler(np.array([0.010, 0.012, 0.011]), step) == -1  # within a quarter of a step: nobody
    assert straggler(np.array([0.05]), np.array([0.1])) == -1
    assert straggler(np.array([0.05, np.nan]), np.array([0.1, 0.1])) == -1


SCRIPT = textwrap.dedent("""
    import sys
    import torch
    import torch.distributed as dist
    import gpuviz_app as gv

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        x, y = torch.randn(32, 3), torch.randn(32, 1)
        with gv.attach(model, sample=(x[:8], y[:8]), dist=True, every=4) as viz:
            for step in range(int(sys.argv[1])):
                loss = torch.nn.functional.mse_loss(model(x), y)
                model.zero_grad()
                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p -= 0.1 * p.grad
                viz.step(loss=loss)
    finally:
        dist.destroy_process_group()
""")


def test_a_job_run_by_gpuviz_in_process_publishes_its_merged_part_and_rank_series(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    source = ScriptSource(script, ["12"], probes=probe_factories({"weights"}), publish_every=4)
    source.run()
    assert source.error == "", source.failure and source.failure.details
    final = source.mailbox.peek()
    payload = final.parts["distributed"]
    assert isinstance(payload, DistributedPayload)
    assert payload.world_size == 1 and payload.every == 4 and payload.step == 12
    assert payload.straggler == -1 and payload.wait_source == "gpuviz gather"
    losses = final.metrics.rows("rank0/loss")
    assert list(losses["last_step"]) == list(range(4, payload.step + 1, 4))
    train = final.metrics.rows("train_loss")
    # each window's rank loss is the mean of the steps' losses over the window
    window = train["max"][(train["last_step"] > payload.step - 4) & (train["last_step"] <= payload.step)]
    assert np.isclose(losses["max"][-1], window.mean())
    assert final.metrics.total("rank0/steps_per_s") == final.metrics.total("rank0/wait_ms") == len(losses)
