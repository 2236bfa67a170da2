"""Run store: training with every view live, store on vs off; its size; scrubbing a stored run."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile

from gpuviz_app.bench.common import Figure, median_interval
from gpuviz_app.bench.procs import display_env, run_script, steady_rate

RATIO_GOAL = 0.97
SCRUB_GOAL_MS = 50.0

# The window with every view live; the "off" arm gives the timeline no recorder, so no run is kept.
APP = """
import atexit, json, sys, threading, time
from gpuviz_app.ui import run_recording
from gpuviz_app.store import writer
if not {record}:
    run_recording.Recording.frames_for = lambda self, source: None
store_cpu = [0.0]  # CPU seconds of the store's work: its writer's thread, and offering and row taps elsewhere
def charged(work):
    def timed(*args):
        start = time.thread_time()
        try:
            return work(*args)
        finally:
            store_cpu[0] += time.thread_time() - start
    return timed
writer.RunWriter._run = charged(writer.RunWriter._run)
writer.RunWriter.offer = charged(writer.RunWriter.offer)
writer.RunWriter._add_rows = charged(writer.RunWriter._add_rows)
cpu = []  # (wall time, the process's CPU time: every thread's, the writer's included)
def sample():
    while True:
        cpu.append((time.time(), time.process_time()))
        time.sleep(0.25)
threading.Thread(target=sample, daemon=True).start()
atexit.register(lambda: json.dump({{"samples": cpu, "store": store_cpu[0]}}, open({out!r}, "w")))
from gpuviz_app.cli import main
sys.exit(main({args!r}))
"""


# One window, every view live, whose recorder is switched off and on every `block` seconds in the
# order on, off, off, on, on, off, ... (each switch on a timer of its own, so drift over the run and
# a block's place in its pair touch both states alike); the switches' times are written at exit.
ALTERNATING = """
import atexit, json, sys, threading, time
from gpuviz_app.ui import run_recording
switches = []  # (wall time, recording from then on)
made = run_recording.Recording.frames_for
def frames_for(self, source):
    frames = made(self, source)
    if frames is not None and not switches:
        recorder = frames.recorder
        def alternate():
            on, n = True, 0
            switches.append((time.time(), on))
            while True:
                time.sleep({block})
                n += 1
                if n % 2:
                    on = not on
                    (recorder.resume() if on else recorder.unfollow())
                switches.append((time.time(), on))
        threading.Thread(target=alternate, daemon=True).start()
    return frames
run_recording.Recording.frames_for = frames_for
atexit.register(lambda: json.dump(switches, open({out!r}, "w")))
from gpuviz_app.cli import main
sys.exit(main({args!r}))
"""


def alternating_rates(samples: list[tuple[int, float]], switches: list[list], skip_steps: int
                      ) -> tuple[float, float, list[float]]:
    """Steps/s recording on and off over the blocks past `skip_steps` (steps interpolated at each
    block's ends from the (step, time) samples), and each pair of neighbouring blocks' ratio."""
    import numpy as np

    steps = np.array([s for s, _ in samples], float)
    times = np.array([t for _, t in samples], float)
    start = times[np.searchsorted(steps, skip_steps)] if steps[-1] > skip_steps else times[-1]
    spans = {True: [0.0, 0.0], False: [0.0, 0.0]}  # state -> [steps, seconds]
    blocks: list[tuple[bool, float]] = []
    for (t0, on), (t1, _) in zip(switches, switches[1:]):
        t0 = max(t0, start)
        if t1 <= t0 or t1 > times[-1]:
            continue
        done = float(np.interp(t1, times, steps) - np.interp(t0, times, steps))
        spans[on][0] += done
        spans[on][1] += t1 - t0
        blocks.append((on, done / (t1 - t0)))
    pairs, i = [], 0
    while i + 1 < len(blocks):
        (on, a), (other, b) = blocks[i], blocks[i + 1]
        if on == other:  # (blocks cut at the start can leave two of a state side by side)
            i += 1
            continue
        if a > 0 and b > 0:
            pairs.append(a / b if on else b / a)
        i += 2
    rate = {k: (v[0] / v[1] if v[1] else float("nan")) for k, v in spans.items()}
    return rate[True], rate[False], pairs


# A store of `frames` snapshots of the default CNN with every view, written fast from real payloads:
# the session's own loop trains on its thread with every view's probe (publishing at its usual rate,
# probes at their budgets, no display pacing) while `real` snapshots are kept as published; then
# RunWriter is given `frames` snapshots cycling through them (steps shifted by the real run's span
# each cycle, every payload a new version, the real metric rows appended step by step), so the
# store holds 10,000 frames of real payloads at the cadence they were computed without training
# 10,000 frames. StoredRun.snapshot_at is then timed on the freshly opened run: random jumps, then
# consecutive steps forward and back.
SCRUB = """
import dataclasses, json, os, random, sqlite3, threading, time
import numpy as np
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.probes import probe_factories
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.data.builtin import digits
from gpuviz_app.store.reader import open_run
from gpuviz_app.store.writer import RunWriter
session = TrainingSession(digits, device="cpu", probes=probe_factories({views!r}))
real = []
session.mailbox.observer = lambda snap: real.append(snap) if snap.step > {warm} else None
thread = threading.Thread(target=session.run, daemon=True)
started = time.perf_counter()
thread.start()
while len(real) < {real} and thread.is_alive():
    time.sleep(0.1)
session.stop()
thread.join()
trained = time.perf_counter() - started
real = [s for s in real[:{real}] if s.run_id > 0]
history = real[-1].metrics
rows = {{}}
for name in history.names:
    r = history.rows(name)
    if len(r):
        rows[name] = (r["last_step"].copy(), r["mean"].copy())
span = int(real[-1].step)
top = max((v for s in real for v in s.versions.values()), default=0) + 1
path = os.path.join({tmp!r}, "run.sqlite")
writer = RunWriter(path, queue_size={frames} + 1)
metrics = MetricsHistory()
before = 0
for i in range({frames}):
    cycle, j = divmod(i, len(real))
    snap, shift = real[j], cycle * span
    if j == 0:
        before = 0
    for name, (steps, values) in rows.items():
        a, b = np.searchsorted(steps, [before, snap.step], side="right")
        if b > a:
            metrics.append(name, steps[a:b] + shift, values[a:b])
    before = snap.step
    writer.offer(dataclasses.replace(snap, step=snap.step + shift, wall_time=i / 60.0, metrics=metrics,
                                     versions={{k: v + cycle * top for k, v in snap.versions.items()}}))
writer.close(timeout=3600)
run = open_run(path)
steps = run.steps()
with sqlite3.connect(path) as db:  # payload records per view (kind 1)
    versions = dict(db.execute("SELECT view, count(*) FROM records WHERE kind = 1 GROUP BY view").fetchall())
rng = random.Random(0)
def timed(step):
    start = time.perf_counter()
    run.snapshot_at(int(step))
    return (time.perf_counter() - start) * 1e3
jumps = [timed(steps[rng.randrange(len(steps))]) for _ in range({samples})]
first = rng.randrange(max(1, len(steps) - {samples}))
forward = [timed(s) for s in steps[first:first + {samples}]]
back = [timed(s) for s in steps[first:first + {samples}][::-1]]
run.close()
print(json.dumps({{"frames": int(len(steps)), "dropped": writer.dropped, "jumps": jumps, "forward": forward,
                  "back": back, "real": len(real), "real_steps": span, "trained_s": trained,
                  "versions": versions, "last_step": int(steps[-1])}}))
"""


def store_bytes(root: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)


def run_window(template: str, env: dict, runs: str, **fields: object) -> tuple[dict, object]:
    """Run one of the window scripts above (`template` filled with `fields` and `out`, the file it
    writes at exit) with its runs directory `runs`: the window's timing report and what it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        report, out = os.path.join(tmp, "timing.json"), os.path.join(tmp, "out.json")
        env = dict(env, GPUVIZ_TIMING=report, XDG_CONFIG_HOME=os.path.join(tmp, "config"), GPUVIZ_RUNS=runs)
        run_script(template.format(out=out, **fields), env, timeout=900)
        with open(report) as f, open(out) as g:
            return json.load(f), json.load(g)


def cpu_per_step(samples: list[tuple[int, float]], cpu: list[list[float]], skip_steps: int) -> float:
    """The process's CPU seconds per training step over the span `steady_rate` times."""
    usable = [(s, t) for s, t in samples if s >= skip_steps]
    if len(usable) < 2 or len(cpu) < 2:
        return float("nan")
    (s0, t0), (s1, t1) = usable[0], usable[-1]
    walls, times = [w for w, _ in cpu], [c for _, c in cpu]
    at = lambda t: times[min(range(len(walls)), key=lambda i: abs(walls[i] - t))]  # noqa: E731
    return (at(t1) - at(t0)) / max(1, s1 - s0)


def _alternating(quick: bool, env_args: list[str]) -> dict:
    """Recording switched on and off in one window (see ALTERNATING): steps/s in each state."""
    steps, skip, block, windows = (200, 60, 0.5, 1) if quick else (2000, 200, 2.0, 3)
    args = [*env_args]
    args[args.index("--steps") + 1] = str(steps)
    pairs: list[float] = []
    per_window: list[float] = []
    with display_env() as env:
        for w in range(windows):
            with tempfile.TemporaryDirectory() as runs:
                report, switches = run_window(ALTERNATING, env, runs, block=block, args=args)
            samples = [tuple(s) for s in report["samples"]]
            on, off, window_pairs = alternating_rates(samples, switches, skip)
            pairs += window_pairs
            per_window.append(on / off)
            print(f"[bench] store, one window switching every {block:g} s ({w + 1}/{windows}): on {on:.2f}, "
                  f"off {off:.2f} steps/s ({on / off:.3f}x)", file=sys.stderr, flush=True)
    return {"per_window": per_window, "pairs": pairs, "steps": steps, "block": block, "windows": windows,
            "skip": skip}


def run(quick: bool) -> list[Figure]:
    steps, skip = (100, 30) if quick else (400, 100)
    rounds = 1 if quick else 5
    frames, samples, real, warm = (200, 100, 40, 0) if quick else (10_000, 500, 300, 600)
    rates: dict[bool, list[float]] = {True: [], False: []}
    cpus: dict[bool, list[float]] = {True: [], False: []}
    sizes: list[float] = []
    shares: list[float] = []
    args = ["--steps", str(steps), "--quit-when-done", "--device", "cpu", "--views", "all", "--no-listen"]
    with display_env() as env:
        for r in range(rounds):
            # the arms alternate, the order reversed every other round, so drift touches both alike
            for record in ((False, True) if r % 2 == 0 else (True, False)):
                with tempfile.TemporaryDirectory() as runs:
                    report, cpu = run_window(APP, env, runs, record=record, args=args)
                    timings = [tuple(s) for s in report["samples"]]
                    rates[record].append(steady_rate(timings, skip))
                    cpus[record].append(cpu_per_step(timings, cpu["samples"], skip))
                    print(f"[bench] store round {r + 1}, {'on' if record else 'off'}: {rates[record][-1]:.2f} steps/s, "
                          f"{cpus[record][-1] * 1e3:.1f} ms CPU a step", file=sys.stderr, flush=True)
                    if record:
                        # the store's CPU seconds per second of the run's training (all of it, start-up included)
                        shares.append(cpu["store"] / max(1e-9, timings[-1][1] - timings[0][1]))
                        last = max(s[0] for s in report["samples"])
                        sizes.append(store_bytes(runs) * 10_000 / max(1, last))
    alternating = _alternating(quick, env_args=args)
    with tempfile.TemporaryDirectory() as tmp:
        code = SCRUB.format(tmp=tmp, frames=frames, samples=samples, real=real, warm=warm,
                            views=["weights", "embedding", "landscape"])
        _, out = run_script(code, dict(os.environ), timeout=3600)
    scrub = json.loads(out.strip().splitlines()[-1])
    ratios = [on / off for on, off in zip(rates[True], rates[False])]
    low, high = median_interval(alternating["pairs"])
    ratio = statistics.median(ratios)
    cpu_ratios = [off / on for on, off in zip(cpus[True], cpus[False])]
    p95 = {k: float(statistics.quantiles(scrub[k], n=20)[-1]) for k in ("jumps", "forward", "back")}
    note = (f"default CNN on digits, CPU, {steps} steps, every view live, steps/s past step {skip}; {rounds} "
            f"rounds, arms alternating; median of the per-round ratios "
            f"({', '.join(f'{x:.3f}' for x in ratios)}); steps/s on "
            f"{', '.join(f'{x:.1f}' for x in rates[True])}, off {', '.join(f'{x:.1f}' for x in rates[False])}")
    read_note = (f"StoredRun.snapshot_at over a store of {scrub['frames']} frames ({scrub['dropped']} dropped) "
                 f"written from {scrub['real']} real snapshots of the default CNN with every probe "
                 f"(payload records {scrub['versions']}); {samples} reads each; the read only, painting excluded")
    extra = {k: scrub[k] for k in ("frames", "versions", "real", "real_steps", "trained_s", "last_step")}
    return [
        Figure("store.training_ratio", "Training, every view live, store on / off in one window (x)",
               statistics.median(alternating["pairs"]), "x", peer=1.0, peer_name="same window, recording switched off",
               higher_is_better=True, goal=RATIO_GOAL, goal_text=f">={RATIO_GOAL:g}x", interval=(low, high),
               note=(f"95% interval of the median {low:.3f}-{high:.3f} (bootstrap; a verdict only when it is on "
                     f"one side of the goal); default CNN on digits, CPU, every view live; {alternating['windows']} windows of "
                     f"{alternating['steps']} steps, each recording switched on and off every "
                     f"{alternating['block']:g} s (on, off, off, on, ...) past step {alternating['skip']}; median "
                     f"of {len(alternating['pairs'])} neighbouring on/off block pairs; per window "
                     f"{', '.join(f'{x:.3f}' for x in alternating['per_window'])}"),
               extra=alternating),
        Figure("store.training_ratio_processes", "Training, every view live, store on / off, separate windows (x)",
               ratio, "x", peer=1.0, peer_name="same window, store off", higher_is_better=True, note=note,
               extra={"on": rates[True], "off": rates[False], "ratios": ratios}),
        Figure("store.training_cpu_ratio", "Training, every view live, CPU per step off / on (x)",
               statistics.median(cpu_ratios), "x", peer=1.0, peer_name="same window, store off",
               higher_is_better=True, note="the window process's CPU time (every thread, the store's writer "
               "included) per step over the same span; median of the per-round ratios "
               f"({', '.join(f'{x:.3f}' for x in cpu_ratios)}): what the store costs when the cores are busy",
               extra={"on_ms": [x * 1e3 for x in cpus[True]], "off_ms": [x * 1e3 for x in cpus[False]]}),
        Figure("store.cpu_share", "Training, every view live: the store's CPU per second of training (%)",
               100 * statistics.median(shares), "%", note="CPU seconds of the store's work (its writer's thread, "
               "offering snapshots and taking metric rows on the publishing threads) per second of the windows' "
               f"training, in the {rounds} recording windows above ({', '.join(f'{100 * x:.2f}' for x in shares)}): "
               "were all of it taken from training, training would run at (1 - this) of its speed",
               extra={"shares": shares}),
        Figure("store.size_per_10k_steps", "Store size per 10,000 steps (MB)", statistics.median(sizes) / 1e6,
               "MB", note=f"extrapolated from the {steps}-step runs above (run directory size x 10,000 / steps); "
                          "default CNN, every view live", extra={"sizes_mb": [x / 1e6 for x in sizes]}),
        Figure("store.scrub_jump_p95", "Scrub, random jump, p95 (ms)", p95["jumps"], "ms", peer=SCRUB_GOAL_MS,
               peer_name=f"goal: {SCRUB_GOAL_MS:g} ms", goal=1.0, goal_text=f"<={SCRUB_GOAL_MS:g} ms",
               note=read_note, extra=extra),
        Figure("store.scrub_step_p95", "Scrub, step forward, p95 (ms)", p95["forward"], "ms", peer=SCRUB_GOAL_MS,
               peer_name=f"goal: {SCRUB_GOAL_MS:g} ms", goal=1.0, goal_text=f"<={SCRUB_GOAL_MS:g} ms",
               note=read_note),
        Figure("store.scrub_back_p95", "Scrub, step back, p95 (ms)", p95["back"], "ms", peer=SCRUB_GOAL_MS,
               peer_name=f"goal: {SCRUB_GOAL_MS:g} ms", goal=1.0, goal_text=f"<={SCRUB_GOAL_MS:g} ms",
               note=read_note),
    ]
