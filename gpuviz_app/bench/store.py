"""Run store: training with every view live, store on vs off; its size; scrubbing a stored run."""

from __future__ import annotations

import json
import os
import statistics
import tempfile

from gpuviz_app.bench.common import Figure
from gpuviz_app.bench.procs import display_env, run_script, steady_rate

RATIO_GOAL = 0.97
SCRUB_GOAL_MS = 50.0

# The window with every view live; the "off" arm gives the timeline no recorder, so no run is kept.
APP = """
import sys
from gpuviz_app.ui import run_recording
if not {record}:
    run_recording.Recording.frames_for = lambda self, source: None
from gpuviz_app.cli import main
sys.exit(main({args!r}))
"""

# A store of `frames` snapshots of the default CNN with every probe (one snapshot per step, as the
# headless recorder publishes them), then StoredRun.snapshot_at timed on random jumps and steps forward.
SCRUB = """
import json, os, random, sys, time
import numpy as np
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.data.builtin import digits
from gpuviz_app.store.reader import open_run
from gpuviz_app.store.writer import RunWriter
path = os.path.join({tmp!r}, "run.sqlite")
session = TrainingSession(digits, device="cpu")
writer = RunWriter(path, queue_size={frames} + 1)
for _ in range({frames}):
    writer.offer(session.advance(1))
session.close()
writer.close(timeout=None)
run = open_run(path)
steps = run.steps()
rng = random.Random(0)
def timed(step):
    start = time.perf_counter()
    run.snapshot_at(int(step))
    return (time.perf_counter() - start) * 1e3
jumps = [timed(steps[rng.randrange(len(steps))]) for _ in range({samples})]
first = rng.randrange(max(1, len(steps) - {samples}))
forward = [timed(s) for s in steps[first:first + {samples}]]
run.close()
print(json.dumps({{"frames": int(len(steps)), "dropped": writer.dropped, "jumps": jumps, "forward": forward,
                  "bytes": os.path.getsize(path)}}))
"""


def store_bytes(root: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)


def run_window(args: list[str], env: dict, record: bool, runs: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "timing.json")
        env = dict(env, GPUVIZ_TIMING=report, XDG_CONFIG_HOME=os.path.join(tmp, "config"), GPUVIZ_RUNS=runs)
        run_script(APP.format(record=record, args=args), env, timeout=900)
        with open(report) as f:
            return json.load(f)


def run(quick: bool) -> list[Figure]:
    steps, skip = (150, 50) if quick else (2000, 300)
    repeats = 1 if quick else 3
    frames, samples = (200, 100) if quick else (10_000, 500)
    rates: dict[bool, list[float]] = {True: [], False: []}
    sizes: list[float] = []
    args = ["--steps", str(steps), "--quit-when-done", "--device", "cpu", "--views", "all", "--no-listen"]
    with display_env() as env:
        for _ in range(repeats):
            for record in (False, True):  # arms alternate, so drift on the machine touches both
                with tempfile.TemporaryDirectory() as runs:
                    report = run_window(args, env, record, runs)
                    rates[record].append(steady_rate([tuple(s) for s in report["samples"]], skip))
                    if record:
                        last = max(s[0] for s in report["samples"])
                        sizes.append(store_bytes(runs) * 10_000 / max(1, last))
    with tempfile.TemporaryDirectory() as tmp:
        _, out = run_script(SCRUB.format(tmp=tmp, frames=frames, samples=samples), dict(os.environ), timeout=1800)
    scrub = json.loads(out.strip().splitlines()[-1])
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    jump_p95 = float(statistics.quantiles(scrub["jumps"], n=20)[-1])
    forward_p95 = float(statistics.quantiles(scrub["forward"], n=20)[-1])
    note = f"default CNN on digits, CPU, {steps} steps, every view live; median of {repeats}, arms alternating"
    read_note = (f"StoredRun.snapshot_at over a store of {scrub['frames']} frames (default CNN, every probe, one "
                 f"snapshot a step, {scrub['dropped']} dropped); {samples} reads; the read only, painting excluded")
    return [
        Figure("store.training_ratio", "Training, every view live, store on (steps/s)", on, "steps/s",
               peer=off, peer_name="same window, store off", higher_is_better=True,
               goal=RATIO_GOAL, goal_text=f">={RATIO_GOAL:g}x", note=note),
        Figure("store.size_per_10k_steps", "Store size per 10,000 steps (MB)", statistics.median(sizes) / 1e6,
               "MB", note=f"extrapolated from the {steps}-step runs above (run directory size x 10,000 / steps); "
                          "default CNN, every view live"),
        Figure("store.scrub_jump_p95", "Scrub, random jump, p95 (ms)", jump_p95, "ms", peer=SCRUB_GOAL_MS,
               peer_name=f"goal: {SCRUB_GOAL_MS:g} ms", goal=1.0, goal_text=f"<={SCRUB_GOAL_MS:g} ms",
               note=read_note, extra={"frames": scrub["frames"], "store_bytes": scrub["bytes"]}),
        Figure("store.scrub_step_p95", "Scrub, step forward, p95 (ms)", forward_p95, "ms", peer=SCRUB_GOAL_MS,
               peer_name=f"goal: {SCRUB_GOAL_MS:g} ms", goal=1.0, goal_text=f"<={SCRUB_GOAL_MS:g} ms",
               note=read_note),
    ]

