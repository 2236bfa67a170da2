"""Start-up: the window vs a bare PySide6 window holding one VisPy canvas; launch to the first trained frame.

Each figure is timed from just before the process is started, in fresh interpreters, on the
same display, to the end of a paint (the canvas's draw handlers run after the scene is drawn).
The arms alternate within each repeat, their order rotating from one repeat to the next, so
drifts in machine load hit them alike, and each figure is the median of the repeats. The launch
figure's verdict comes from the repeats' paired ratios (the floor and the app launched side by
side): a 95% bootstrap interval of their median, and a verdict only when the whole interval is on
one side of the goal, since this machine's speed drifts by more than the goal's margin within
minutes.

Every arm runs as on a launch after the first of an installed package: one untimed round first
writes the compiled bytecode of every module the arms import (a private PYTHONPYCACHEPREFIX,
bytecode writing on even where the environment turns it off: an editable checkout with
PYTHONDONTWRITEBYTECODE would compile the app's modules from source at every launch, which pip
does once at install) and the app's glyph tiles (a private XDG_CACHE_HOME).

The app's "first trained frame" is the first paint of the metrics canvas after it was given a
snapshot of step 1 or later holding training losses (`ui.first_frame`); the app closes there
(GPUVIZ_TIMING_QUIT_AT), and the run is refused if its report says otherwise.

The floor for "launch to first trained frame" is the least any app could do to show a trained
frame: a bare PySide6 window holding one VisPy canvas is painted, then torch is imported, the
default model is built on the built-in digits with the package's own builders
(`data.builtin.digits`, `core.models.build_model`, `core.optimizers.make_optimizer` with the
default `TrainConfig`), one training step is taken on one batch, and the canvas paints once
more. Nothing is drawn from the step: the floor has no metrics view, no dataset sniffing, no
background thread and no evaluation.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from contextlib import contextmanager
from typing import Iterator

from gpuviz_app.bench.common import Figure, median_interval
from gpuviz_app.bench.procs import display_env, run_app, run_script

BARE_WINDOW = """
import time
from PySide6 import QtWidgets, QtCore
import vispy
vispy.use(app="pyside6")
from vispy import scene
app = QtWidgets.QApplication([])
window = QtWidgets.QMainWindow()
canvas = scene.SceneCanvas(keys=None)
window.setCentralWidget(canvas.native)
window.resize(1280, 800)
def drawn(event):
    print(time.time(), flush=True)
    QtCore.QTimer.singleShot(0, app.quit)
canvas.events.draw.connect(drawn, position="last")
window.show()
app.exec()
"""

# The bare window, then torch and one training step of the default model, then one more paint.
FLOOR = """
import time
from PySide6 import QtWidgets, QtCore
import vispy
vispy.use(app="pyside6")
from vispy import scene
app = QtWidgets.QApplication([])
window = QtWidgets.QMainWindow()
canvas = scene.SceneCanvas(keys=None)
window.setCentralWidget(canvas.native)
window.resize(1280, 800)
paints = []
trained = []

def train_one_step():
    import torch
    from torch import nn
    from gpuviz_app.core.config import TrainConfig
    from gpuviz_app.core.models import build_model, resolve_model_kind
    from gpuviz_app.core.optimizers import make_optimizer
    from gpuviz_app.data.builtin import digits
    config = TrainConfig()
    data = digits()
    shape = tuple(data.x.shape[1:])
    kind = resolve_model_kind(config.model, data.kind, shape)
    model = build_model(kind, shape, len(data.classes), config.seed)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config)
    x = torch.from_numpy(data.x[:config.batch_size])
    y = torch.from_numpy(data.y[:config.batch_size])
    loss = nn.CrossEntropyLoss()(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    assert loss.item() == loss.item()
    trained.append(True)
    canvas.update()

def drawn(event):
    paints.append(time.time())
    if len(paints) == 1:
        QtCore.QTimer.singleShot(0, train_one_step)
    elif trained:  # the first paint after the step (not a second paint of the launch)
        print(paints[0], paints[-1], flush=True)
        QtCore.QTimer.singleShot(0, app.quit)

canvas.events.draw.connect(drawn, position="last")
window.show()
app.exec()
"""

APP_ARGS = ["--steps", "600", "--quit-when-done", "--device", "cpu"]


def launch_app(env: dict) -> tuple[float, float]:
    """(window shown, first trained frame) in seconds from launch, for one fresh start of the app."""
    report = run_app(APP_ARGS, dict(env, GPUVIZ_TIMING_QUIT_AT="first_training_frame"))
    marks, shown = report["marks"], report.get("details", {}).get("first_training_frame", {})
    if "first_training_frame" not in marks or shown.get("step", 0) < 1 or shown.get("losses", 0) < 1:
        raise RuntimeError(f"the app painted no frame of trained steps: {report.get('details')}")
    return marks["window_shown"] - report["launched"], marks["first_training_frame"] - report["launched"]


@contextmanager
def warm_launch_env(env: dict) -> Iterator[dict]:
    """`env` with its own bytecode and cache directories, written by the first launches."""
    with tempfile.TemporaryDirectory(prefix="gpuviz-startup-") as tmp:
        warm = dict(env, PYTHONPYCACHEPREFIX=os.path.join(tmp, "pycache"), XDG_CACHE_HOME=os.path.join(tmp, "cache"))
        warm.pop("PYTHONDONTWRITEBYTECODE", None)
        yield warm


def run(quick: bool) -> list[Figure]:
    repeats = 1 if quick else 15
    bare, shown, first, floor, trained = [], [], [], [], []

    def bare_arm(env: dict) -> None:
        launched, out = run_script(BARE_WINDOW, env)
        bare.append(float(out.split()[0]) - launched)

    def app_arm(env: dict) -> None:
        window, frame = launch_app(env)
        shown.append(window)
        first.append(frame - window)
        trained.append(frame)

    def floor_arm(env: dict) -> None:
        launched, out = run_script(FLOOR, env)
        floor.append(float(out.split()[1]) - launched)

    arms = [bare_arm, app_arm, floor_arm]
    with display_env() as display, warm_launch_env(display) as env:
        if not quick:  # (quick: a check that every figure comes, not a measurement)
            for arm in arms:  # untimed: writes the bytecode and glyph caches every launch after it reads
                arm(env)
            del bare[:], shown[:], first[:], floor[:], trained[:]
        for i in range(repeats):  # interleaved and rotated, so drifts in machine load hit every arm alike
            for arm in arms[i % 3:] + arms[:i % 3]:
                arm(env)
    bare_s, shown_s, first_s, floor_s, trained_s = (
        statistics.median(v) for v in (bare, shown, first, floor, trained))
    paired = [f / t for f, t in zip(floor, trained)]  # each repeat's floor over its app launch
    low, high = median_interval(paired)
    return [
        Figure("startup.window_shown", "Window shown (s)", shown_s, "s", peer=bare_s,
               peer_name="bare PySide6 window with one VisPy canvas", goal=1 / 1.2,
               goal_text="<=1.2x peer", note=f"median of {repeats}, process start to first paint"),
        Figure("startup.first_training_frame", "First training frame after window (s)", first_s, "s",
               peer=1.0, peer_name="goal: 1 s", goal=1.0, goal_text="<=1 s",
               note="includes importing torch on the worker thread"),
        Figure("startup.launch_to_trained_frame", "Launch to first trained frame (s)", trained_s, "s",
               peer=floor_s, goal=1 / 1.3, goal_text="<=1.3x floor", interval=(low, high),
               peer_name="floor: bare window with one VisPy canvas + import torch + one step of the "
                         "default CNN on digits, repainted",
               note=f"median of {repeats}, process start to the end of the first metrics paint showing "
                    f"step >= 1 with training losses; the repeats' launches over their floor's "
                    f"{', '.join(f'{1 / x:.2f}' for x in paired)}, median {1 / statistics.median(paired):.2f}x, "
                    f"95% interval {1 / high:.2f}-{1 / low:.2f}x",
               extra={"app_s": trained, "floor_s": floor}),
    ]
