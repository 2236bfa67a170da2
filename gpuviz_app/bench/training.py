"""Training throughput: the bare trainer vs the window with the metrics view, or every view, live."""

from __future__ import annotations

import json
import statistics
import sys

from gpuviz_app.bench.common import Figure
from gpuviz_app.bench.procs import display_env, run_app, run_script, steady_rate

BARE_SESSION = """
import json, threading, time
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.data.builtin import digits
session = TrainingSession(digits, device="cpu", max_steps={steps})
thread = threading.Thread(target=session.run, kwargs={{"until_finished": True}})
thread.start()
samples = []
while thread.is_alive():
    snap = session.mailbox.peek()
    if snap is not None and (not samples or samples[-1][0] != snap.step):
        samples.append((snap.step, snap.wall_time))
    time.sleep(0.05)
snap = session.mailbox.peek()
samples.append((snap.step, snap.wall_time))
print(json.dumps(samples))
"""


TENSORBOARD = """
import json, sys, tempfile, time
from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.data.builtin import digits
from gpuviz_app.data.device import DeviceDataset
try:
    from torch.utils.tensorboard import SummaryWriter
except ImportError:
    print(json.dumps(None)); sys.exit(0)
trainer = Trainer(DeviceDataset(digits(), "cpu"), TrainConfig())
with tempfile.TemporaryDirectory() as logdir:
    writer = SummaryWriter(logdir)
    samples = []
    for step in range(1, {steps} + 1):
        trainer.step()
        if step % 10 == 0:
            trainer.flush()
            writer.add_scalar("loss/train", trainer.history.latest("train_loss"), step)
            for name, p in trainer.model.named_parameters():
                writer.add_histogram("weights/" + name, p.detach(), step)
                if p.grad is not None:
                    writer.add_histogram("grads/" + name, p.grad, step)
            samples.append((step, time.time()))
    writer.close()
print(json.dumps(samples))
"""


def run(quick: bool) -> list[Figure]:
    steps, skip = (300, 100) if quick else (4000, 300)
    repeats = 1 if quick else 3
    bare, metrics_live, all_live = [], [], []
    app_args = ["--steps", str(steps), "--quit-when-done", "--device", "cpu"]
    with display_env() as env:
        for _ in range(repeats):
            _, out = run_script(BARE_SESSION.format(steps=steps), env)
            bare.append(steady_rate(json.loads(out), skip))
            for views, rates in (("metrics", metrics_live), ("all", all_live)):
                report = run_app([*app_args, "--views", views], env, timeout=600)
                rates.append(steady_rate([tuple(s) for s in report["samples"]], skip))
    tensorboard = []
    for _ in range(repeats):
        _, out = run_script(TENSORBOARD.format(steps=steps), {**env_plain()})
        samples = json.loads(out)
        if samples is None:
            break
        tensorboard.append(steady_rate(samples, skip))
    bare_rate = statistics.median(bare)
    metrics_rate, all_rate = statistics.median(metrics_live), statistics.median(all_live)
    note = f"default CNN on digits, CPU; median of {repeats}"
    figures = [
        Figure("training.metrics_live", "Training with metrics view live (steps/s)", metrics_rate, "steps/s",
               peer=bare_rate, peer_name="bare trainer, same loop, no display", higher_is_better=True,
               goal=0.95, goal_text=">=0.95x", note=note),
        Figure("training.all_views_live", "Training with every view live (steps/s)", all_rate, "steps/s",
               peer=bare_rate, peer_name="bare trainer, same loop, no display", higher_is_better=True,
               note=note + "; weights, embedding and loss-surface probes all running"),
    ]
    if tensorboard:
        tb_rate = statistics.median(tensorboard)
        figures.append(Figure(
            "training.vs_tensorboard", "Training, every view live vs TensorBoard (steps/s)", all_rate,
            "steps/s", peer=tb_rate, higher_is_better=True,
            peer_name="same trainer + SummaryWriter scalars and histograms of every layer every 10 steps",
            note=f"TensorBoard run alone: {tb_rate / bare_rate:.2f}x the bare trainer"))
    else:
        figures.append(Figure("training.vs_tensorboard", "Training vs TensorBoard logging (steps/s)", all_rate,
                              "steps/s", note="peer not installed (pip install 'gpuviz-app[bench]')"))
    return figures


def env_plain() -> dict:
    import os

    return dict(os.environ)
