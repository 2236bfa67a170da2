"""Start-up: the window vs a bare PySide6 window holding one VisPy canvas; the first training frame."""

from __future__ import annotations

import statistics

from gpuviz_app.bench.common import Figure
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
canvas.events.draw.connect(drawn)
window.show()
app.exec()
"""


def run(quick: bool) -> list[Figure]:
    repeats = 2 if quick else 5
    bare, shown, first = [], [], []
    with display_env() as env:
        for _ in range(repeats):  # interleaved, so drifts in machine load hit both alike
            launched, out = run_script(BARE_WINDOW, env)
            bare.append(float(out.split()[0]) - launched)
            report = run_app(["--steps", "600", "--quit-when-done", "--device", "cpu"], env)
            marks = report["marks"]
            shown.append(marks["window_shown"] - report["launched"])
            first.append(marks["first_training_frame"] - marks["window_shown"])
    bare_s, shown_s, first_s = (statistics.median(v) for v in (bare, shown, first))
    return [
        Figure("startup.window_shown", "Window shown (s)", shown_s, "s", peer=bare_s,
               peer_name="bare PySide6 window with one VisPy canvas", goal=1 / 1.2,
               goal_text="<=1.2x peer", note=f"median of {repeats}, process start to first paint"),
        Figure("startup.first_training_frame", "First training frame after window (s)", first_s, "s",
               peer=1.0, peer_name="goal: 1 s", goal=1.0, goal_text="<=1 s",
               note="includes importing torch on the worker thread"),
    ]
