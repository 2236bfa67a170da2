"""The Lightning callback: a LightningModule trained by `lightning.Trainer` under `gpuviz run`-style
hosting reaches the snapshots with its own layers, its loss and the metrics it logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gpuviz_app.core.probes import probe_factories
from gpuviz_app.sources.script import ScriptSource
from tests.fresh_python import run_python

SCRIPT = """
import sys
import lightning
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from gpuviz_app.integrations.lightning import GpuvizCallback

class TinyClassifier(lightning.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        self.loss_fn = nn.CrossEntropyLoss()
        self.losses = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self.net(x)
        loss = self.loss_fn(out, y)
        self.log("train/acc", (out.argmax(1) == y).float().mean())
        self.losses.append(loss.item())
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", self.loss_fn(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

torch.manual_seed(0)
x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
train = DataLoader(TensorDataset(x, y), batch_size=16)
val = DataLoader(TensorDataset(x[:32], y[:32]), batch_size=16)
module = TinyClassifier()
trainer = lightning.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                            callbacks=[GpuvizCallback()])
try:
    trainer.fit(module, train, val)
finally:
    with open(sys.argv[1], "w") as f:
        f.write(" ".join(repr(v) for v in module.losses))
"""


def run_script(tmp_path: Path, max_steps: int | None = None):
    script = tmp_path / "train_lightning.py"
    script.write_text(SCRIPT)
    losses = tmp_path / "losses.txt"
    source = ScriptSource(script, [str(losses)], probes=probe_factories({"weights"}), publish_every=2,
                          max_steps=max_steps)
    source.run()
    return source, [float(v) for v in losses.read_text().split()]


def test_a_lightning_module_reaches_the_snapshots_with_its_weights_and_logged_scalars(tmp_path):
    source, losses = run_script(tmp_path)
    assert source.failure is None, source.failure and source.failure.details
    final = source.mailbox.peek()
    assert final.finished and final.model == "TinyClassifier" and final.step == 8  # 2 epochs of 4 batches
    assert [layer["name"] for layer in final.parts["weights"].layers] == ["net.0", "net.2"]
    metrics = final.metrics
    loss = metrics.rows("train_loss")
    np.testing.assert_array_equal(loss["first_step"], np.arange(1, 9))
    np.testing.assert_allclose(loss["mean"], losses, rtol=1e-6)  # each batch's own loss, at its step
    acc = metrics.rows("train_acc")  # `train/acc` is the accuracy series
    np.testing.assert_array_equal(acc["first_step"], np.arange(1, 9))
    assert np.all((acc["mean"] >= 0) & (acc["mean"] <= 1))
    val = metrics.rows("eval_loss")  # `val_loss`, once after each epoch, at the step it followed
    np.testing.assert_array_equal(val["first_step"], [4, 8])
    assert np.all(np.isfinite(val["mean"]))
    assert set(final.latest) == {"train_loss", "train_acc", "eval_loss"}


def test_steps_stop_lightning_at_its_nth_batch(tmp_path):
    source, losses = run_script(tmp_path, max_steps=3)
    assert source.failure is None, source.failure and source.failure.details
    assert source.mailbox.peek().step == 3 and source.mailbox.peek().finished
    assert len(losses) == 3  # the script's finally ran after the third batch


def test_importing_gpuviz_imports_no_lightning():
    proc = run_python("import sys, gpuviz_app, gpuviz_app.integrations\n"
                      "assert 'lightning' not in sys.modules and 'pytorch_lightning' not in sys.modules")
    assert proc.returncode == 0, proc.stderr
