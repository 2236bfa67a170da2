"""Training throughput: the bare trainer vs the window with the metrics view live."""

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


def run(quick: bool) -> list[Figure]:
    steps = 1500 if quick else 4000
    skip = 300
    repeats = 1 if quick else 3
    bare, live = [], []
    with display_env() as env:
        for _ in range(repeats):
            _, out = run_script(BARE_SESSION.format(steps=steps), env)
            bare.append(steady_rate(json.loads(out), skip))
            report = run_app(["--steps", str(steps), "--quit-when-done", "--device", "cpu"], env, timeout=600)
            live.append(steady_rate([tuple(s) for s in report["samples"]], skip))
    bare_rate, live_rate = statistics.median(bare), statistics.median(live)
    return [
        Figure("training.metrics_live", "Training with metrics view live (steps/s)", live_rate, "steps/s",
               peer=bare_rate, peer_name="bare trainer, same loop, no display", higher_is_better=True,
               goal=0.95, goal_text=">=0.95x", note=f"default CNN on digits, CPU; median of {repeats}"),
    ]
