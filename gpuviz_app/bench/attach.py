"""Your own training script watched: bare, attached in-process and out-of-process, wandb, TensorBoard.

Every arm runs the residual CNN example's model, data and loop (`examples/residual_cnn.py`:
its `ResidualCNN` and `make_images`, batches of 32, SGD with momentum) for the same number of
steps on the CPU, each in a fresh interpreter started by the same driver (glibc's allocator
thresholds fixed as `gpuviz` fixes them, see `core.allocator`; torch on `TORCH_THREADS`), so
every arm starts equal. The arms alternate within each repeat, the order reversed every other
repeat, and each figure is the median over repeats. Throughput is the steady rate from the end
of a warm-up step to the end of the last step, timed inside the script; start-up and closing
(wandb's final sync, the final snapshot) are not timed.

- bare: the loop alone, nothing logged.
- attached in-process: the script run by `ScriptSource` as `gpuviz run` runs it, with the
  weights probe (every step's histograms of every weight and gradient) and
  `viz.step(loss=, acc=)`; a consumer thread takes the mailbox's newest snapshot at 60 Hz as a
  window's frame loop would (asking for payloads each tick, copying the weights arrays), without
  drawing.
- attached out-of-process: the same script as a plain `python` process whose `gv.attach` sends
  over ZeroMQ (a Unix socket, `GPUVIZ_ADDRESS`) to a `sources.remote.Listener` in the bench's
  process, whose snapshots a 60 Hz consumer takes likewise. Once with the sender limited to the
  weights view's probe, once as `gv.attach` comes (every view's probe).
- wandb: `wandb.watch(model, log="all", log_freq=F)` offline (no network, a temporary
  WANDB_DIR) and `wandb.log` of the loss and accuracy each step, as a normal script does.
- TensorBoard: `SummaryWriter.add_scalar` of the loss each step and `add_histogram` of every
  parameter and gradient every F steps.

The weights probe has no frequency setting: it bins every step. "At equal frequency" is
therefore every step on both sides (peers with F = 1), against the out-of-process weights
arm; the peers at F = 10 (as the issue names them) are reported too. Overhead = an arm's time
per step over the bare script's, minus one. Latency: from the end of a step in the script
(before `viz.step`) to its snapshot taken by the consumer in the listener's process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpuviz_app.bench.common import Figure

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "residual_cnn.py"
OVERHEAD_FLOOR = 0.5  # percent: a smaller overhead than this is within this bench's noise
# Torch's intra-op threads in every arm. With one per core, a busy machine stalls every
# parallel region's barrier and the arms measure the machine's load more than their own cost.
TORCH_THREADS = 1
LATENCY_GOAL_MS = 150.0
INSTALL_HINT = "pip install 'gpuviz-app[bench]'"

# The user's script: the example's model, data and loop, logging as `variant` says.
SCRIPT = r'''
import importlib.util, json, os, sys, tempfile, time

variant, steps, freq, example_path, out_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]

def report(result):
    with open(out_path, "w") as f:
        json.dump(result, f)

try:
    if variant == "wandb":
        import wandb
    elif variant == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter
except ImportError as exc:
    report({"missing": str(exc)})
    sys.exit(0)

import torch
from torch import nn

spec = importlib.util.spec_from_file_location("residual_cnn_example", example_path)
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)

torch.manual_seed(0)
generator = torch.Generator().manual_seed(0)
images, labels = example.make_images(2048, generator)
model = example.ResidualCNN()
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
sample = example.make_images(256, generator)
logdir = tempfile.mkdtemp(prefix="gpuviz-bench-")
close = lambda: None

if variant == "gpuviz":
    import gpuviz_app as gv
    viz = gv.attach(model, loss_fn=loss_fn, optimizer=opt, sample=sample, name="residual-cnn")
    log_step = lambda step, loss, acc: viz.step(loss=loss, acc=acc)
    close = viz.close
elif variant == "gpuviz_weights":  # the sender `attach` makes, with the weights view's probe only
    import gpuviz_app as gv
    from gpuviz_app.core.attached_run import hosting
    from gpuviz_app.sources.sender import RemoteSender
    sender = RemoteSender(views=("weights",))
    with hosting(sender):
        viz = gv.attach(model, loss_fn=loss_fn, optimizer=opt, sample=sample, name="residual-cnn")
    log_step = lambda step, loss, acc: viz.step(loss=loss, acc=acc)
    def close():
        viz.close()
        sender.close()
elif variant == "wandb":
    run = wandb.init(project="gpuviz-bench", mode="offline", dir=logdir)
    wandb.watch(model, log="all", log_freq=freq)
    log_step = lambda step, loss, acc: wandb.log({"loss": loss.item(), "acc": acc.item()})
    close = run.finish
elif variant == "tensorboard":
    writer = SummaryWriter(logdir)
    def log_step(step, loss, acc):
        writer.add_scalar("loss", loss.item(), step)
        if step % freq == 0:
            for name, p in model.named_parameters():
                writer.add_histogram("weights/" + name, p.detach(), step)
                if p.grad is not None:
                    writer.add_histogram("grads/" + name, p.grad, step)
    close = writer.close
else:
    log_step = lambda step, loss, acc: None

times, walls, logging = [], [], 0.0
for step in range(1, steps + 1):
    idx = torch.randint(0, len(images), (32,))
    out = model(images[idx])
    loss = loss_fn(out, labels[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    walls.append(time.time())  # the step is done: the latency of its picture counts from here
    logged = time.perf_counter()
    log_step(step, loss, (out.argmax(dim=1) == labels[idx]).float().mean())
    times.append(time.perf_counter())
    if step > steps // 6:
        logging += times[-1] - logged
report({"times": times, "walls": walls, "logging": logging})
close()
'''

# Starts every arm: the same allocator settings, then the script bare or under `ScriptSource`.
DRIVER = r'''
import runpy, sys, threading
from gpuviz_app.core.allocator import keep_freed_memory
keep_freed_memory()
mode, script, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if mode == "plain":
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")
    sys.exit(0)
from gpuviz_app.core.probes import probe_factories
from gpuviz_app.sources.script import ScriptSource
source = ScriptSource(script, args, probes=probe_factories({"weights"}))
source.pace_probes()
done = threading.Event()
taken = []

def frames():
    seen = 0
    while not done.wait(1 / 60):
        snap = source.mailbox.take()
        if snap is not None:
            taken.append(snap.step)
            payload = snap.parts.get("weights")
            if payload is not None and snap.version("weights") != seen:
                seen = snap.version("weights")
                payload.counts.numpy().copy(), payload.grid.numpy().copy()
        source.want_probes()

consumer = threading.Thread(target=frames, daemon=True)
consumer.start()
source.run()
done.set()
consumer.join()
if source.failure is not None:
    print(source.failure.details, file=sys.stderr)
    sys.exit(1)
if not taken:
    print("no snapshot was taken", file=sys.stderr)
    sys.exit(1)
'''


@dataclass(frozen=True)
class Arm:
    """One way of running the script: `variant` selects its logging, `freq` the peers' interval;
    `hosted` runs it under `ScriptSource` in its process, `remote` sends to a listener here."""

    key: str
    variant: str
    freq: int = 1
    hosted: bool = False
    remote: bool = False
    quick: bool = True  # also run with --quick


ARMS = (
    Arm("bare", "bare"),
    Arm("in_process", "gpuviz", hosted=True),
    Arm("remote_weights", "gpuviz_weights", remote=True),
    Arm("remote", "gpuviz", remote=True, quick=False),
    Arm("wandb_1", "wandb", 1),
    Arm("tensorboard_1", "tensorboard", 1),
    Arm("wandb_10", "wandb", 10, quick=False),
    Arm("tensorboard_10", "tensorboard", 10, quick=False),
)


class FrameConsumer:
    """A window's part in the bench process: a `Listener` for the script, and a thread that takes
    each run's newest snapshot at 60 Hz, copying its weights arrays as an upload would, and
    noting when each step's snapshot was handed over."""

    def __init__(self, address: str) -> None:
        from gpuviz_app.sources.remote import Listener

        self.listener = Listener(address)
        self.taken: list[tuple[int, float]] = []  # (step, time.time() when taken)
        self.first_weights_step: int | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._frames, name="bench-frames", daemon=True)
        self._thread.start()

    def _frames(self) -> None:
        seen: dict[int, int] = {}
        while not self._done.wait(1 / 60):
            for run in self.listener.runs():
                snap = run.mailbox.take()
                if snap is None:
                    continue
                self.taken.append((snap.step, time.time()))
                payload = snap.parts.get("weights")
                if payload is not None and seen.get(run.run_id) != snap.version("weights"):
                    seen[run.run_id] = snap.version("weights")
                    np.array(payload.counts), np.array(payload.grid)
                    if self.first_weights_step is None:
                        self.first_weights_step = snap.step

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        self.listener.close()


def run_arm(arm: Arm, steps: int, script: Path, env: dict | None = None, timeout: float = 600) -> dict:
    """Run one arm in a fresh interpreter: its step end times (and, sent to a listener here,
    when each step's snapshot was taken), or {"missing": reason} for a peer not installed."""
    with tempfile.TemporaryDirectory(prefix="gpuviz-bench-attach-") as tmp:
        out = os.path.join(tmp, "result.json")
        env = dict(os.environ if env is None else env)
        env.update(OMP_NUM_THREADS=str(TORCH_THREADS), MKL_NUM_THREADS=str(TORCH_THREADS),
                   WANDB_MODE="offline", WANDB_DIR=tmp, WANDB_SILENT="true", WANDB_CONFIG_DIR=tmp,
                   WANDB_CACHE_DIR=tmp, WANDB_DATA_DIR=tmp, TMPDIR=tmp,
                   GPUVIZ_ADDRESS="none", GPUVIZ_LAUNCH="0")
        consumer = None
        if arm.remote:
            env["GPUVIZ_ADDRESS"] = f"ipc://{tmp}/gpuviz-bench.sock"
            consumer = FrameConsumer(env["GPUVIZ_ADDRESS"])
        mode = "hosted" if arm.hosted else "plain"
        args = [arm.variant, str(steps), str(arm.freq), str(EXAMPLE), out]
        try:
            proc = subprocess.run([sys.executable, "-c", DRIVER, mode, str(script), *args], env=env, cwd=tmp,
                                  capture_output=True, text=True, timeout=timeout)
        finally:
            if consumer is not None:
                consumer.close()
        if not os.path.exists(out):
            raise RuntimeError(f"{arm.key} arm exited {proc.returncode}: {proc.stderr[-800:]}")
        with open(out) as f:
            result = json.load(f)
        if proc.returncode != 0:  # its steps were timed; how it ended is reported with them
            last = proc.stderr.strip().splitlines()[-1:] or [""]
            result["exit_error"] = f"exited {proc.returncode} after its last step ({last[0][:200]})"
    if consumer is not None:
        if consumer.first_weights_step is None:
            raise RuntimeError(f"{arm.key} arm: no weights payload reached the listener")
        result["taken"] = consumer.taken
        result["first_weights_step"] = consumer.first_weights_step
    return result


def steady_rate(times: list[float], skip: int) -> float:
    """Steps per second from the end of step `skip` to the end of the last step."""
    window = times[skip - 1:]
    return (len(window) - 1) / (window[-1] - window[0])


def latencies(result: dict, skip: int) -> list[float]:
    """Seconds from each step's end in the script to its snapshot taken in the listener's
    process, for the steps past `skip` whose snapshot was taken (others were replaced first)."""
    walls = result["walls"]
    return [taken - walls[step - 1] for step, taken in result["taken"] if skip < step <= len(walls)]


def overhead_percent(rate: float, bare: float) -> float:
    """(t_arm - t_bare) / t_bare in percent, from steps/s."""
    return 100.0 * (bare / rate - 1.0)


@dataclass
class Measured:
    rates: dict[str, list[float]]
    missing: dict[str, str]  # arm key -> why its peer could not run
    latency: list[float]  # seconds, every sample of every remote weights arm
    repeats: int
    steps: int
    skip: int
    exit_errors: dict[str, str] = field(default_factory=dict)  # arm key -> how a run of it ended badly
    logging: dict[str, list[float]] = field(default_factory=dict)  # arm key -> share of its loop's time in logging


def measure(arms: tuple[Arm, ...], steps: int, skip: int, repeats: int, env: dict | None = None) -> Measured:
    """Every arm `repeats` times, interleaved (the order reversed every other round)."""
    m = Measured({arm.key: [] for arm in arms}, {}, [], repeats, steps, skip)
    with tempfile.TemporaryDirectory(prefix="gpuviz-bench-script-") as tmp:
        script = Path(tmp) / "train.py"
        script.write_text(SCRIPT)
        for r in range(repeats):
            for arm in (arms if r % 2 == 0 else arms[::-1]):
                if arm.key in m.missing:
                    continue
                result = run_arm(arm, steps, script, env)
                if "missing" in result:
                    m.missing[arm.key] = result["missing"]
                    continue
                # a listener subscribes within the first steps; the window starts once it did
                start = max(skip, result.get("first_weights_step", 0))
                if start > steps - 2:
                    raise RuntimeError(f"{arm.key} arm: the listener had nothing before step {start}")
                m.rates[arm.key].append(steady_rate(result["times"], start))
                if "logging" in result:  # the time inside the logging call, over the last 5/6 of the steps
                    span = result["times"][-1] - result["times"][result_skip(steps) - 1]
                    m.logging.setdefault(arm.key, []).append(result["logging"] / span)
                if "exit_error" in result:
                    m.exit_errors[arm.key] = result["exit_error"]
                if arm.key == "remote_weights":
                    m.latency.extend(latencies(result, start))
    return m


def result_skip(steps: int) -> int:
    """The step after which the script sums the time inside its logging call."""
    return steps // 6


def _exits(m: Measured, *arms: str) -> str:
    return "".join(f"; the {arm} arm {m.exit_errors[arm]}" for arm in arms if arm in m.exit_errors)


def _rate_figure(key: str, title: str, arm: str, m: Measured, med: dict[str, float], how: str,
                 goal: float | None, what: str) -> Figure:
    over = overhead_percent(med[arm], med["bare"])
    inside = statistics.median(m.logging[arm]) * 100 if m.logging.get(arm) else None
    inside_note = f"; {inside:.1f}% of the loop's time inside viz.step" if inside is not None else ""
    return Figure(key, title, med[arm], "steps/s", peer=med["bare"], peer_name="the same script bare",
                  higher_is_better=True, goal=goal, goal_text=f">={goal:.2f}x" if goal else "",
                  note=f"{how}; {what}; overhead {over:+.1f}%{inside_note}" + _exits(m, arm, "bare"),
                  extra={"overhead_percent": over, "inside_step_percent": inside})


def _peer_figure(peer: str, freq: int, ours_key: str, med: dict[str, float], m: Measured,
                 how: str) -> Figure | None:
    arm = f"{peer}_{freq}"
    if arm not in med and arm not in m.missing:
        return None  # not run (--quick)
    equal = freq == 1
    label = "wandb.watch(log='all')" if peer == "wandb" else "TensorBoard histograms"
    key = f"attach.vs_{peer}" + ("" if equal else "_every_10")
    title = f"Overhead vs {label}, " + ("both every step (%)" if equal else "theirs every 10 steps (%)")
    bare = med["bare"]
    ours = overhead_percent(med[ours_key], bare)
    floored = max(ours, OVERHEAD_FLOOR)
    floor_note = ""
    if ours < OVERHEAD_FLOOR:
        floor_note = f"; ours ({ours:+.1f}%) is within the noise, taken as {OVERHEAD_FLOOR}%"
    goal = dict(goal=3.0, goal_text=">=3x less") if equal else {}
    if arm not in med:
        return Figure(key, title, floored, "%", note=f"peer not installed ({m.missing[arm]}; {INSTALL_HINT})"
                      + floor_note, **goal)
    theirs = overhead_percent(med[arm], bare)
    name = (f"wandb.watch(model, log='all', log_freq={freq}) offline + wandb.log of loss and accuracy each step"
            if peer == "wandb" else
            "SummaryWriter add_scalar of the loss each step + add_histogram of every parameter and gradient "
            + ("every step" if equal else f"every {freq} steps"))
    return Figure(key, title, floored, "%", peer=max(theirs, OVERHEAD_FLOOR), peer_name=name,
                  note=(f"{how}; ours: attached out-of-process, weights view's probe, every step; "
                        f"peer {med[arm]:.4g} steps/s ({theirs:+.1f}%), bare {bare:.4g} steps/s"
                        + ("" if equal else "; ours bins every step, 10x the peer's histograms") + floor_note
                        + _exits(m, arm, ours_key)),
                  extra={"overhead_percent": ours, "peer_overhead_percent": theirs, "peer_rate": med[arm],
                         "bare_rate": bare}, **goal)


def figures(m: Measured) -> list[Figure]:
    """The topic's figures from the medians of what was measured; a peer not installed is said so."""
    med = {key: statistics.median(v) for key, v in m.rates.items() if v}
    how = f"median of {m.repeats}, steps {m.skip}-{m.steps} of the residual CNN example on the CPU"
    result = [_rate_figure("attach.in_process", "Script attached in-process, weights live (steps/s)",
                           "in_process", m, med, how, None,
                           "run by ScriptSource as `gpuviz run` does, weights probe every step")]
    result.append(_rate_figure(
        "attach.out_of_process", "Script attached out-of-process, weights live (steps/s)", "remote_weights",
        m, med, how, 0.90, "sent over ZeroMQ (ipc) to a listener in the bench's process, weights probe every step"))
    if "remote" in med:
        result.append(_rate_figure(
            "attach.out_of_process_all_views", "Script attached out-of-process, every view (steps/s)", "remote",
            m, med, how, 0.90, "plain gv.attach as a user writes it: the sender runs every view's probe "
            "(weights, embedding, loss surface) while a window listens"))
    for freq in (1, 10):
        for peer in ("wandb", "tensorboard"):
            figure = _peer_figure(peer, freq, "remote_weights", med, m, how)
            if figure is not None:
                result.append(figure)
    if m.latency:
        ms = np.array(m.latency) * 1000
        p50, p95 = float(np.percentile(ms, 50)), float(np.percentile(ms, 95))
        result.append(Figure(
            "attach.latency_p95", "Step to view over loopback, p95 (ms)", p95, "ms", peer=LATENCY_GOAL_MS,
            peer_name=f"goal: {LATENCY_GOAL_MS:g} ms", goal=1.0, goal_text=f"<={LATENCY_GOAL_MS:g} ms",
            note=(f"p50 {p50:.1f} ms over {len(ms)} steps; from a step's end in the script through viz.step "
                  "(probe payload, encoding, send), ZeroMQ ipc, decoding, to the snapshot taken by a 60 Hz "
                  "consumer in the listener's process; GL upload and paint not included"),
            extra={"p50_ms": p50, "samples": len(ms)}))
    return result


def run(quick: bool) -> list[Figure]:
    if not EXAMPLE.exists():
        raise RuntimeError(f"the attach bench runs {EXAMPLE.name} from a source checkout's examples/ folder, "
                           f"not found at {EXAMPLE}")
    steps, skip, repeats = (12, 4, 1) if quick else (60, 10, 3)
    arms = tuple(arm for arm in ARMS if arm.quick or not quick)
    return figures(measure(arms, steps, skip, repeats))
