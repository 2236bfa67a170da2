"""`gpuviz_app.attach` in a user's own loop: bound to a `ScriptSource`, and alone (no host)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import gpuviz_app as gv
from gpuviz_app.core.attached_run import AttachedRun, build_context, hosting
from gpuviz_app.core.probes import probe_factories
from gpuviz_app.sources.script import ScriptSource

SCRIPT = """
import sys, torch
from torch import nn
import gpuviz_app as gv

torch.manual_seed(0)
steps = int(sys.argv[1])
model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(64, 3), torch.randn(64, 1)
losses = []
viz = gv.attach(model, loss_fn=nn.MSELoss(), optimizer=opt, sample=(x, y), name="user-mlp", layers={layers!r})
try:
    for step in range(steps):
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
        viz.step(loss=loss, lr=0.1, scale=torch.tensor(2.0 * step))
finally:
    viz.close()
    with open(sys.argv[2], "w") as f:
        f.write(" ".join(repr(v) for v in losses))
"""


def write_script(tmp_path: Path, layers=None, body: str = SCRIPT) -> Path:
    path = tmp_path / "train.py"
    path.write_text(body.replace("{layers!r}", repr(layers)))
    return path


def run_source(tmp_path: Path, steps: int, max_steps=None, layers=None, **kwargs):
    script = write_script(tmp_path, layers)
    done = tmp_path / "losses.txt"
    snapshots = []
    source = ScriptSource(script, [str(steps), str(done)], probes=probe_factories({"weights", "landscape"}),
                          max_steps=max_steps, on_publish=snapshots.append, **kwargs)
    source.run()
    return source, snapshots, done


def test_the_script_model_reaches_the_snapshots_with_its_losses_and_scalars(tmp_path):
    source, snapshots, done = run_source(tmp_path, steps=12, publish_every=4)
    assert source.failure is None and source.attached
    assert [s.step for s in snapshots] == [0, 4, 8, 12, 12]  # bind, every 4 steps, the final settle
    final = source.mailbox.peek()
    assert final.finished and final.model == "user-mlp" and final.dataset == "train.py"
    layers = final.parts["weights"].layers
    assert [layer["name"] for layer in layers] == ["0", "2"]  # the script's own modules
    losses = [float(v) for v in done.read_text().split()]
    rows = final.metrics.rows("train_loss")
    assert rows["count"].sum() == 12
    np.testing.assert_allclose(rows["mean"], losses, rtol=1e-6)
    scale = final.metrics.rows("scale")
    np.testing.assert_allclose(scale["mean"], 2.0 * np.arange(12))
    assert final.latest["lr"] == pytest.approx(0.1)
    landscape = final.parts["landscape"]  # the script's loss function on its sample, at the final weights
    assert landscape.state == "done" and landscape.centre_step == 12
    assert torch.isfinite(landscape.grid).all() and np.isfinite(landscape.centre_loss)


def test_steps_stop_the_script_at_its_nth_step_and_its_finally_runs(tmp_path):
    source, snapshots, done = run_source(tmp_path, steps=1000, max_steps=7, publish_every=100)
    assert source.failure is None
    assert source.mailbox.peek().step == 7 and source.mailbox.peek().finished
    assert len(done.read_text().split()) == 7  # the script's finally ran after the 7th step


def test_layer_patterns_choose_the_tracked_layers(tmp_path):
    source, snapshots, done = run_source(tmp_path, steps=3, layers="2*", publish_every=1)
    assert [layer["name"] for layer in source.mailbox.peek().parts["weights"].layers] == ["2"]


def test_a_script_that_raises_is_reported_with_its_traceback(tmp_path):
    script = write_script(tmp_path, body="import gpuviz_app\n\ndef broken():\n    raise KeyError('no such column')\n"
                                          "broken()\n")
    source = ScriptSource(script)
    source.run()
    assert source.failure is not None
    assert source.failure.summary == f"{script} raised KeyError: 'no such column'"
    assert "in broken" in source.failure.details and "Traceback" in source.failure.details


def test_stop_from_another_thread_ends_the_script_at_its_next_step(tmp_path):
    script = write_script(tmp_path)
    done = tmp_path / "losses.txt"
    source = ScriptSource(script, ["100000", str(done)], probes=probe_factories({"weights"}), publish_hz=1000)
    thread = threading.Thread(target=source.run)
    thread.start()
    while source.mailbox.serial < 3 and thread.is_alive():
        thread.join(0.01)
    source.stop()
    thread.join(60)
    assert not thread.is_alive() and source.failure is None
    assert 0 < len(done.read_text().split()) < 100000


def test_pause_holds_the_script_at_viz_step_and_step_once_lets_one_through(tmp_path):
    script = write_script(tmp_path)
    done = tmp_path / "losses.txt"
    source = ScriptSource(script, ["50", str(done)], publish_hz=1000)
    source.set_paused(True)
    thread = threading.Thread(target=source.run)
    thread.start()
    while (source.current is None or source.current.step_count < 1) and thread.is_alive():
        thread.join(0.01)
    thread.join(0.5)
    assert source.current.step_count == 1  # held at the first viz.step
    source.step_once()
    while source.current.step_count < 2:
        thread.join(0.01)
    thread.join(0.5)
    assert source.current.step_count == 2
    source.set_paused(False)
    thread.join(60)
    assert len(done.read_text().split()) == 50


def test_step_refuses_a_tensor_of_several_values_in_one_sentence():
    model = nn.Linear(2, 1)
    context = build_context(model, torch.randn(4, 2), None, "m", step_source=lambda: 0)
    run = AttachedRun(context)
    with pytest.raises(ValueError, match="loss must be a single number"):
        run.record({"loss": torch.ones(3)})


def test_sample_classes_come_from_integer_targets_and_follow_the_model_device():
    model = nn.Linear(2, 3)
    context = build_context(model, (torch.randn(5, 2), torch.tensor([0, 2, 1, 2, 0])), nn.CrossEntropyLoss(), "c",
                            step_source=lambda: 0)
    assert context.classes == ("0", "1", "2") and context.inputs.device == next(model.parameters()).device
    regression = build_context(model, (torch.randn(5, 2), torch.randn(5, 1)), None, "r", step_source=lambda: 0)
    assert regression.classes == () and not regression.classification


def test_only_one_host_listens_at_a_time(tmp_path):
    with hosting(ScriptSource(tmp_path / "a.py")):
        with pytest.raises(RuntimeError, match="already listening"):
            with hosting(ScriptSource(tmp_path / "b.py")):
                pass


def test_with_sending_off_and_no_host_attach_is_a_silent_no_op_after_one_notice(tmp_path):
    code = textwrap.dedent("""
        import sys, torch
        import gpuviz_app as gv
        model = torch.nn.Linear(2, 1)
        viz = gv.attach(model, sample=torch.randn(4, 2))
        assert not viz.recording
        for _ in range(3):
            viz.step(loss=torch.tensor(1.0))
        with gv.attach(model, sample=torch.randn(4, 2)) as again:
            again.step(loss=1.0)
        viz.close()
        assert 'gpuviz_app.sources' not in sys.modules and 'vispy' not in sys.modules
    """)
    env = {**os.environ, "GPUVIZ_ADDRESS": "none"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("no gpuviz is listening") == 1


def test_importing_the_package_loads_neither_torch_nor_qt():
    code = "import sys, gpuviz_app; print(gpuviz_app.attach.__module__, [m for m in ('torch', 'PySide6', 'vispy') " \
           "if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split(maxsplit=1) == ["gpuviz_app.api", "[]\n"]


@pytest.mark.gpu
def test_on_cuda_the_payloads_and_scalars_stay_on_the_device_until_the_publish(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.replace("{layers!r}", "None").replace("torch.manual_seed(0)", "torch.set_default_device('cuda')"))
    source = ScriptSource(script, ["6", str(tmp_path / "losses.txt")], probes=probe_factories({"weights"}),
                          publish_every=3)
    source.run()
    final = source.mailbox.peek()
    assert source.failure is None and final.device.startswith("cuda") and final.event is not None
    assert final.parts["weights"].counts.is_cuda
    assert final.metrics.rows("train_loss")["count"].sum() == 6
