"""A two-rank DDP job (torchrun, gloo, CPU) bare and attached with dist="auto", side by side.

Every arm runs `examples/ddp_train.py`'s model and data (its `make_model` and `make_data`) in
the same loop, launched the same way by `torch.distributed.run` with one torch thread per rank.
The attached arms call `gv.attach(ddp_model, ..., dist="auto", every=10)` and `viz.step(loss=)`
on every rank, and rank 0 sends to a `sources.remote.Listener` in the bench's process (a Unix
socket). In the "attached" arm that listener shows every view, so rank 0 runs every probe; in
"metrics_view" it says it shows the metrics view alone (the per-rank plots one watches a job
with, which need no probe), so rank 0 runs none. A last arm is the same with
`GPUVIZ_ADDRESS=none`: the ranks' gathers and merges without a window or probes, what the
distributed part alone costs.

The four jobs run at once, time-sliced (`bench.slices`): each is frozen (SIGSTOP on both ranks)
except during its slices of `SLICE_S`. Each rank writes the clock and its process's CPU time at
the end of every step into a file the bench maps; an arm's rate in a slice is rank 0's steps
ended within it per second. The verdict reads each round's ratio of an arm to the bare job's
slice of the same round: a 95% bootstrap interval of their median, and a verdict only when the
whole interval is on one side of the goal. The first rounds are left out: they hold what an
attached job pays once (the window joining, every probe's first forced round, the loss
surface's first centre).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from gpuviz_app.bench.common import Figure, median_interval
from gpuviz_app.bench.slices import run_slices, step_clock, steps_within, wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ddp_train.py"
GOAL = 0.90
RANKS = 2
JOB_TIMEOUT_S = 300.0
ROUNDS, WARMUP_ROUNDS, SLICE_S = 100, 4, 1.0
MAX_RATE = 2000  # steps/s no arm reaches here: sizes each rank's record of its steps

SCRIPT = r"""
import importlib.util, os, sys, time
variant, max_steps, example_path, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

spec = importlib.util.spec_from_file_location("ddp_example", example_path)
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)

torch.set_num_threads(1)
dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
ddp = DistributedDataParallel(example.make_model())
loss_fn = nn.MSELoss()
opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
x_train, y_train = example.make_data(2048, torch.Generator().manual_seed(1 + rank))
sample = example.make_data(256, torch.Generator().manual_seed(12345))
log_step = lambda loss: None
if variant == "attached":
    import gpuviz_app as gv
    viz = gv.attach(ddp, loss_fn=loss_fn, optimizer=opt, sample=sample, name="ddp-bench", dist="auto", every=10)
    log_step = lambda loss: viz.step(loss=loss)
# each step's end: the wall clock (CLOCK_MONOTONIC, which the bench reads too) and the process's CPU time
clock = np.memmap(f"{out_path}.{rank}.steps", dtype=np.float64, mode="w+", shape=(max_steps, 2))
with open(f"{out_path}.{rank}.pid", "w") as f:
    f.write(str(os.getpid()))
for step in range(max_steps):
    idx = torch.randint(0, len(x_train), (64,))
    loss = loss_fn(ddp(x_train[idx]), y_train[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    log_step(loss)
    clock[step] = (time.perf_counter(), time.process_time())
"""


# arm: the script's variant; the listener each attached arm sends to: the probes it shows (None: no window)
ARMS = {"bare": "bare", "attached": "attached", "metrics_view": "attached", "gathers_only": "attached"}
SHOWN = {"attached": ("weights", "embedding", "landscape"), "metrics_view": ()}


class Job:
    """One arm's torchrun job, frozen (SIGSTOP on each rank) except during its slices."""

    def __init__(self, arm: str, folder: Path, script: Path, address: str, max_steps: int) -> None:
        self.arm = arm
        self.out = folder / arm
        self.stderr = (folder / f"{arm}.err").open("w+")
        env = {**os.environ, "GPUVIZ_ADDRESS": address, "GPUVIZ_LAUNCH": "0", "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLE.parents[1]), os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={RANKS}",
                   str(script), ARMS[arm], str(max_steps), str(EXAMPLE), str(self.out)]
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=self.stderr,
                                     start_new_session=True)
        self.pids: list[int] = []
        self.steps: list[np.ndarray] = []

    def wait_started(self, timeout_s: float) -> None:
        """Until every rank has made its first step."""
        pid_files = [Path(f"{self.out}.{rank}.pid") for rank in range(RANKS)]

        def started() -> bool:
            if not all(path.exists() and path.read_text() for path in pid_files):
                return False
            if not self.pids:
                self.pids = [int(path.read_text()) for path in pid_files]
                self.steps = [step_clock(f"{self.out}.{rank}.steps", 2) for rank in range(RANKS)]
            return all(steps[0, 0] > 0 for steps in self.steps)

        wait_until(started, self._check_alive, timeout_s, f"the {self.arm} DDP job made no step")

    def signal(self, sig: int) -> None:
        self._check_alive()
        for pid in self.pids:
            os.kill(pid, sig)

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the {self.arm} DDP job exited {self.proc.returncode}: {self._said()}")

    def _said(self) -> str:
        self.stderr.seek(0)
        return _first_error(self.stderr.read())

    def stop(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.stderr.close()

    def slice_figures(self, start: float, end: float) -> tuple[float, list[float]]:
        """Rank 0's steps per second between two clock readings, and each rank's CPU ms per step."""
        rate = len(steps_within(self.steps[0][:, 0], start, end)) / (end - start)
        cpu = []
        for steps in self.steps:
            done = steps[steps_within(steps[:, 0], start, end)]
            cpu.append(float((done[-1, 1] - done[0, 1]) / max(len(done) - 1, 1) * 1000) if len(done) > 1 else math.nan)
        return rate, cpu


def _first_error(stderr: str) -> str:
    """What a failed job said first (a rank's traceback or C++ abort), not torchrun's summary after it."""
    starts = [i for i in (stderr.find("Traceback"), stderr.find("terminate called"), stderr.find("Error")) if i >= 0]
    return stderr[min(starts):][:1500] if starts else stderr[-800:]


def measure(rounds: int, warmup: int, slice_s: float) -> tuple[dict[str, list[float]], dict[str, list[list[float]]]]:
    """Each arm's rate and its ranks' CPU milliseconds per step, one entry per timed round."""
    from gpuviz_app.sources.remote import Listener

    folder = Path(tempfile.mkdtemp(prefix="gvd"))  # short: a Unix socket path has a length limit
    addresses = {arm: f"ipc://{folder}/{arm}.sock" for arm in SHOWN}
    listeners = {arm: Listener(addresses[arm], shown=shown) for arm, shown in SHOWN.items()}
    rates: dict[str, list[float]] = {arm: [] for arm in ARMS}
    cpu: dict[str, list[list[float]]] = {arm: [] for arm in ARMS}
    max_steps = int((rounds + warmup) * slice_s * MAX_RATE) + 1000
    jobs: list[Job] = []
    try:
        script = folder / "ddp_bench.py"
        script.write_text(SCRIPT)
        for arm in ARMS:  # one at a time: the others are frozen while a job starts
            job = Job(arm, folder, script, addresses.get(arm, "none"), max_steps)
            jobs.append(job)
            job.wait_started(JOB_TIMEOUT_S)
            job.signal(signal.SIGSTOP)
        for round_, job, start, end in run_slices(jobs, warmup + rounds, slice_s):
            if round_ >= warmup:
                rate, cpu_ms = job.slice_figures(start, end)
                rates[job.arm].append(rate)
                cpu[job.arm].append(cpu_ms)
        for arm, listener in listeners.items():
            runs = listener.runs()
            if not runs:
                raise RuntimeError(f"the {arm} arm's DDP job sent nothing to the listener")
            computed = {name for run in runs for name in run.latest.versions} & set(SHOWN["attached"])
            if bool(computed) != bool(SHOWN[arm]) or not computed <= set(SHOWN[arm]):
                raise RuntimeError(f"the {arm} arm's job computed the probes {sorted(computed)} for a listener "
                                   f"showing {sorted(SHOWN[arm]) or 'none'}")
    finally:
        for job in jobs:
            job.stop()
        for listener in listeners.values():
            listener.close()
        shutil.rmtree(folder, ignore_errors=True)
    return rates, cpu


def _paired(arm: str, rates: dict[str, list[float]]) -> list[float]:
    """The arm's rate over the bare job's, within each round."""
    return [a / b for a, b in zip(rates[arm], rates["bare"])]


def _costs(arm: str, rates: dict[str, list[float]], cpu: dict[str, list[list[float]]]) -> str:
    """The arm against bare within each round (the machine's load drifts over seconds) and in CPU
    time per step, which other work on the machine changes less than rates."""
    paired = _paired(arm, rates)
    low, high = median_interval(paired)
    quartiles = np.percentile(paired, [25, 75])
    ranks = [(statistics.median(c[r] for c in cpu["bare"]), statistics.median(c[r] for c in cpu[arm]))
             for r in range(RANKS)]
    said = "; ".join(f"rank {r} {bare:.2f} -> {mine:.2f} ms ({(mine / bare - 1) * 100:+.0f}%)"
                     for r, (bare, mine) in enumerate(ranks))
    return (f"the rounds' ratios to bare: median {statistics.median(paired):.3f}x (quartiles {quartiles[0]:.2f}-"
            f"{quartiles[1]:.2f}), 95% interval {low:.3f}-{high:.3f}; CPU per step (all threads), bare -> this: {said}")


def run(quick: bool) -> list[Figure]:
    if not EXAMPLE.exists():
        raise RuntimeError(f"the distributed bench runs {EXAMPLE.name} from a source checkout's examples/ folder, "
                           f"not found at {EXAMPLE}")
    rounds, warmup, slice_s = (2, 1, 0.5) if quick else (ROUNDS, WARMUP_ROUNDS, SLICE_S)
    rates, cpu = measure(rounds, warmup, slice_s)
    bare, attached, metrics, gathers = (statistics.median(rates[arm]) for arm in ARMS)
    how = f"rank 0's rate in slices of {slice_s:g} s, median of {rounds} rounds after {warmup}; every=10"
    return [Figure(
        "distributed.ddp_2_ranks", "2-rank DDP job (torchrun, gloo, CPU) attached with dist='auto', every view shown",
        attached, "steps/s", peer=bare, peer_name="the same job bare", higher_is_better=True, goal=GOAL,
        goal_text=f">={GOAL:.2f}x", interval=median_interval(_paired("attached", rates)),
        note=f"{how}; a listener here showing every view: every probe on rank 0; "
             f"overhead {(bare / attached - 1) * 100:+.1f}%; {_costs('attached', rates, cpu)}",
        extra={**{f"{arm}_rates": rates[arm] for arm in ARMS}, **{f"{arm}_cpu_ms": cpu[arm] for arm in ARMS}}), Figure(
        "distributed.metrics_view", "2-rank DDP job attached with dist='auto', the metrics view shown (per-rank plots)",
        metrics, "steps/s", peer=bare, peer_name="the same job bare", higher_is_better=True, goal=GOAL,
        goal_text=f">={GOAL:.2f}x", interval=median_interval(_paired("metrics_view", rates)),
        note=f"{how}; a listener here showing the metrics view alone: no probe on rank 0; "
             f"overhead {(bare / metrics - 1) * 100:+.1f}%; {_costs('metrics_view', rates, cpu)}"), Figure(
        "distributed.gathers_only", "2-rank DDP job, dist='auto' with no window (the ranks' gathers alone)", gathers,
        "steps/s", peer=bare, peer_name="the same job bare", higher_is_better=True,
        note=f"{how}; GPUVIZ_ADDRESS=none: no probes; overhead {(bare / gathers - 1) * 100:+.1f}%; "
             f"{_costs('gathers_only', rates, cpu)}")]
