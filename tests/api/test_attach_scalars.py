"""Any scalar a script sends with `viz.step` reaches the snapshots' metrics, whenever it first appears."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gpuviz_app.core.attached_run import AttachedRun, build_context
from gpuviz_app.core.history import MAX_SERIES
from gpuviz_app.sources.script import ScriptSource

SCRIPT = """
import torch
from torch import nn
import gpuviz_app as gv

torch.manual_seed(0)
model = nn.Linear(3, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
with gv.attach(model, loss_fn=nn.CrossEntropyLoss(), optimizer=opt, sample=(x, y), name="scalars") as viz:
    for step in range(1, 13):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
        grad = torch.stack([p.grad.norm() for p in model.parameters()]).norm()
        scalars = {"train/loss": loss, "grad_norm": grad, "lr": 0.05 / step}
        if step % 4 == 0:
            scalars["eval/acc"] = (model(x).argmax(1) == y).float().mean()
        if step >= 7:
            scalars["late/arrival"] = float(step)  # a name first sent mid-run
        viz.step(**scalars)
"""


def test_every_named_scalar_reaches_the_snapshot_metrics(tmp_path: Path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    snapshots = []
    source = ScriptSource(script, publish_every=5, on_publish=snapshots.append)
    source.run()
    assert source.failure is None
    metrics = source.mailbox.peek().metrics
    assert set(metrics.names) == {"train_loss", "grad_norm", "lr", "eval_acc", "late/arrival"}
    assert metrics.rows("train_loss")["count"].sum() == 12 and metrics.rows("grad_norm")["count"].sum() == 12
    np.testing.assert_array_equal(metrics.rows("lr")["mean"], 0.05 / np.arange(1, 13))  # host numbers, exact
    evals = metrics.rows("eval_acc")
    np.testing.assert_array_equal(evals["first_step"], [4, 8, 12])
    assert np.all((evals["mean"] >= 0) & (evals["mean"] <= 1))
    late = metrics.rows("late/arrival")
    np.testing.assert_array_equal(late["first_step"], np.arange(7, 13))
    np.testing.assert_array_equal(late["mean"], np.arange(7, 13))
    assert [s.step for s in snapshots][:3] == [0, 5, 10]


def make_run() -> AttachedRun:
    model = nn.Linear(2, 1)
    return AttachedRun(build_context(model, torch.randn(4, 2), None, "m", step_source=lambda: 0))


def test_new_names_widen_the_buffer_and_keep_earlier_rows():
    run = make_run()
    for step in range(1, 6):
        run.record({f"s{i}": torch.tensor(float(step * 100 + i)) for i in range(step * 3)})
    run.flush()
    for i in range(15):
        rows = run.history.rows(f"s{i}")
        first = i // 3 + 1  # s{i} first sent at the step where step * 3 > i
        np.testing.assert_array_equal(rows["first_step"], np.arange(first, 6))
        np.testing.assert_array_equal(rows["mean"], np.arange(first, 6) * 100 + i)


def test_cpu_tensors_are_recorded_exactly_as_their_values():
    run = make_run()  # a CPU model: its scalars are read at once (nothing to wait for), not copied
    values = [0.1 + step / 3 for step in range(1, 6)]  # none is a float32
    for value in values:
        run.record({"loss": torch.tensor(value, dtype=torch.float64), "acc": torch.tensor(value, dtype=torch.float32)})
    run.flush()
    np.testing.assert_array_equal(run.history.rows("train_loss")["mean"], values)
    np.testing.assert_array_equal(run.history.rows("train_acc")["mean"], np.float32(values).astype(np.float64))


def test_names_beyond_the_cap_are_dropped_and_the_buffer_stays_bounded(caplog):
    run = make_run()
    with caplog.at_level(logging.WARNING, logger="gpuviz_app.core.history"):
        for step in range(3):
            run.record({f"metric_{step}_{i}": torch.tensor(1.0) for i in range(MAX_SERIES)})
    run.flush()
    assert len(run.history.names) == MAX_SERIES
    assert run._buffer.shape[1] == MAX_SERIES
    assert "metric_1_0" in caplog.records[0].getMessage()


def test_a_value_that_is_not_a_number_is_refused_in_one_sentence():
    run = make_run()
    with pytest.raises(ValueError, match="viz.step: note must be a number or a one-element tensor, not str"):
        run.record({"note": "fast"})


@pytest.mark.gpu
def test_steps_with_new_names_never_wait_for_the_gpu():
    model = nn.Linear(2, 1).cuda()
    run = AttachedRun(build_context(model, torch.randn(4, 2, device="cuda"), None, "m", step_source=lambda: 0))
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any host sync inside a step raises
    try:
        for step in range(1, 40):
            loss = model(torch.randn(8, 2, device="cuda")).square().mean()
            run.record({"loss": loss, "lr": 0.1, **{f"s{i}": loss * i for i in range(step // 4)}})
    finally:
        torch.cuda.set_sync_debug_mode("default")
    run.flush()
    assert run.history.total("train_loss") == 39 and run.history.total("s8") == 4  # sent from step 36 on
    assert run.history.total("lr") == 39


def test_an_evaluation_after_a_step_is_recorded_at_that_step_without_a_new_one():
    run = make_run()
    run.record({"loss": 1.0})
    run.record({"loss": 2.0})
    run.record({"eval/loss": torch.tensor(5.0)}, advance=False)
    run.flush()
    run.record({"eval/acc": 0.5}, advance=False)  # after a flush: the step's row is reopened
    run.record({"loss": 3.0})
    run.flush()
    assert run.step_count == 3
    np.testing.assert_array_equal(run.history.rows("train_loss")["first_step"], [1, 2, 3])
    np.testing.assert_array_equal(run.history.rows("eval_loss")["first_step"], [2])
    np.testing.assert_array_equal(run.history.rows("eval_acc")["first_step"], [2])
    assert run.history.latest("eval_loss") == 5.0


def test_a_non_finite_loss_is_named_with_its_step_once_flushed():
    run = make_run()
    run.record({"loss": torch.tensor(0.5)})
    run.record({"loss": torch.tensor(float("nan"))})
    assert run.diverged == ""  # nothing read back before the flush
    run.flush()
    assert run.diverged == "training diverged at step 2: the loss is NaN"
