"""Weights probe: the cost of tracking every step, and one histogram against TensorBoard's.

(a) The per-step reductions (histograms of every layer's weights and gradients, norms,
update ratio, dead flags) for the default CNN on the built-in digits, as a share of a
training step: two identical trainers train in alternating blocks, one with the
tracker's step hook; the hook's own time, plus the flushes the probe makes when it
runs (every FLUSH_EVERY steps, about the app's rate on a CPU), is compared with the
plain trainer's step time.
(b) The same per model (the default CNN and the models of `bench/landscape_models.py`),
torch on one thread so that a core is spare: plain steps, the tracker binning in the hook
and the tracker binning on its worker, in alternating blocks. The cost is the training
thread's time in the hook and the flushes; the worker's own CPU time is in the note.
(c) An exact histogram of 1M float32 weights (range, grid, bins, counts; on the device)
against `SummaryWriter.add_histogram` on the same tensor.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from types import SimpleNamespace

from gpuviz_app.bench.common import Figure, best_time

FLUSH_EVERY = 20  # probe runs of a 30 Hz display at ~600 steps/s (slower ones leave the tracker's 32 rows to flush)


def _trainers(device: str):
    from gpuviz_app.core.config import TrainConfig
    from gpuviz_app.core.trainer import Trainer
    from gpuviz_app.core.probes.weights.probe import WeightsProbe
    from gpuviz_app.data.builtin import digits
    from gpuviz_app.data.device import DeviceDataset

    data = DeviceDataset(digits(), device)
    plain, hooked = Trainer(data, TrainConfig()), Trainer(data, TrainConfig())
    probe = WeightsProbe(hooked.context)
    return plain, hooked, probe


def per_step_cost(device: str, quick: bool) -> Figure:
    import torch

    plain, hooked, probe = _trainers(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    block, rounds = (40, 4) if quick else (80, 12)
    plain.train(20)
    hooked.train(20)
    probe.tracker.flush()
    best_plain = best_cost = best_hooked = float("inf")
    for _ in range(rounds):
        sync()
        start = time.perf_counter()
        plain.train(block)
        sync()
        best_plain = min(best_plain, (time.perf_counter() - start) / block)
        before, flushing = hooked.hook_time, 0.0
        start = time.perf_counter()
        for _ in range(block // FLUSH_EVERY):
            hooked.train(FLUSH_EVERY)
            flush_start = time.perf_counter()
            probe.tracker.flush()
            flushing += time.perf_counter() - flush_start
        sync()
        end = time.perf_counter()
        best_hooked = min(best_hooked, (end - start) / block)
        best_cost = min(best_cost, (hooked.hook_time - before + flushing) / block)
    exact = getattr(probe.tracker, "exact_steps", 0)
    where = "on a worker thread" if getattr(probe.tracker, "background", False) else "in the step hook"
    return Figure(
        key=f"weights.per_step_{device}",
        title=f"weights: per-step reductions ({device})",
        ours=best_cost * 1e6,
        unit="us",
        peer=best_plain * 1e6,
        peer_name="one training step of the default CNN (batch 64, digits)",
        goal=20.0,
        goal_text="<= 5% step",
        note=(f"{100 * best_cost / best_plain:.1f}% of a step; wall-clock A/B: "
              f"{100 * (best_hooked / best_plain - 1):+.1f}%; {type(probe.tracker).__name__} binning "
              f"{where} (torch on {torch.get_num_threads()} threads), "
              f"{exact} of {hooked.step_count} steps re-binned after leaving the grid"),
    )


def _model_step(name: str):
    """A model of `bench/landscape_models.py` (or the default CNN) and one SGD step of it, batch 64."""
    import torch
    from torch import nn

    if name == "cnn":
        from gpuviz_app.core.config import TrainConfig
        from gpuviz_app.core.trainer import Trainer
        from gpuviz_app.data.builtin import digits
        from gpuviz_app.data.device import DeviceDataset

        trainer = Trainer(DeviceDataset(digits(), "cpu"), TrainConfig())
        return trainer.model, trainer.step
    from gpuviz_app.bench.landscape_models import MODELS, _data

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = MODELS[name][1]()
    x, y = _data(name, 512, gen)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        rows = torch.randint(0, len(x), (64,), generator=gen)
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x[rows]), y[rows]).backward()
        optimizer.step()

    return model, step


def per_step_models(quick: bool) -> list[Figure]:
    import torch

    from gpuviz_app.core.probes.weights.probe import find_layers
    from gpuviz_app.core.probes.weights.step_tracker import StepTracker

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    block, rounds = (20, 2) if quick else (40, 8)
    figures = []
    try:
        for name in ("cnn", "mlp", "resnet", "transformer"):
            model, step = _model_step(name)
            params = [layer.weight for layer in find_layers(model)]
            arms = {"plain": None, "hook": StepTracker(params, "cpu", background=False),
                    "worker": StepTracker(params, "cpu", background=True)}
            step_count = 0
            wall = {arm: [] for arm in arms}
            cost = {arm: [] for arm in arms}
            cpu = {arm: [] for arm in arms}  # the training thread's CPU time in the hook and flushes
            worker_cpu = []
            for r in range(rounds + 1):  # the first round warms up
                order = list(arms) if r % 2 else list(reversed(arms))
                for arm in order:
                    tracker = arms[arm]
                    if tracker is not None:
                        tracker.resume()
                    spent = spent_cpu = step_cpu = 0.0
                    cpu_before, start = getattr(tracker, "worker_time", 0.0), time.perf_counter()
                    for i in range(block):
                        step_start = time.thread_time()
                        step()
                        step_cpu += time.thread_time() - step_start
                        step_count += 1
                        if tracker is not None:
                            hook_start, hook_cpu = time.perf_counter(), time.thread_time()
                            with torch.no_grad():
                                tracker(SimpleNamespace(step=step_count))
                                if i % FLUSH_EVERY == FLUSH_EVERY - 1 or i == block - 1:
                                    tracker.flush()
                            spent += time.perf_counter() - hook_start
                            spent_cpu += time.thread_time() - hook_cpu
                    if r:
                        wall[arm].append((time.perf_counter() - start) / block)
                        cost[arm].append(spent / block)
                        cpu[arm].append(spent_cpu / step_cpu)
                        if arm == "worker":
                            worker_cpu.append((tracker.worker_time - cpu_before) / block)
            plain = statistics.median(wall["plain"])
            ours, in_hook = statistics.median(cost["worker"]), statistics.median(cost["hook"])
            ab = {arm: 100 * (statistics.median(wall[arm]) / plain - 1) for arm in ("hook", "worker")}
            figures.append(Figure(
                key=f"weights.per_step_cpu_{name}",
                title=f"weights: per-step reductions, {name} (cpu, 1 torch thread, binning on the worker)",
                ours=ours * 1e6, unit="us", peer=plain * 1e6,
                peer_name=f"one SGD step, batch 64 ({sum(p.numel() for p in params)} tracked weights)",
                goal=20.0, goal_text="<= 5% step",
                note=(f"binning on a worker: {100 * ours / plain:.1f}% of a step in the training thread, "
                      f"wall-clock {ab['worker']:+.1f}%, the worker's CPU "
                      f"{100 * statistics.median(worker_cpu) / plain:.1f}% of a step, the training thread's CPU in "
                      f"the hook {100 * statistics.median(cpu['worker']):.1f}% of its step's; binning in the hook: "
                      f"{100 * in_hook / plain:.1f}%, wall-clock {ab['hook']:+.1f}%, CPU "
                      f"{100 * statistics.median(cpu['hook']):.1f}% (medians of {rounds} rounds)"),
            ))
    finally:
        torch.set_num_threads(threads)
    return figures


def _tensorboard_writer():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # noqa: BLE001 - tensorboard is an optional peer
        return None
    return SummaryWriter(tempfile.mkdtemp(prefix="gpuviz-bench-tb-"))


def histogram_1m(device: str, quick: bool) -> list[Figure]:
    import torch

    from gpuviz_app.core.probes.weights import histogram as H

    x = torch.randn(1 << 20, generator=torch.Generator().manual_seed(0)).mul_(0.05).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    repeat = 5 if quick else 15

    def ours() -> None:
        H.histogram(x)
        sync()

    def histc() -> None:
        lo, hi = torch.aminmax(x)
        torch.histc(x, 256, float(lo), float(hi))
        sync()

    t_ours = best_time(ours, repeat=repeat, warmup=2)
    t_histc = best_time(histc, repeat=repeat, warmup=1)
    goal, goal_text = (20.0, ">= 20x") if device == "cuda" else (2.0, ">= 2x")
    writer = _tensorboard_writer()
    figures = []
    if writer is None:
        figures.append(Figure(key=f"weights.hist_1m_{device}", title=f"weights: 1M-value histogram ({device})",
                              ours=t_ours * 1e3, unit="ms", goal=goal, goal_text=goal_text,
                              note="peer not installed: pip install 'gpuviz-app[bench]' (tensorboard)"))
    else:
        step = iter(range(10**9))
        t_tb = best_time(lambda: writer.add_histogram("w", x, next(step)), repeat=repeat, warmup=1)
        writer.close()
        figures.append(Figure(
            key=f"weights.hist_1m_{device}", title=f"weights: 1M-value histogram ({device})",
            ours=t_ours * 1e3, unit="ms", peer=t_tb * 1e3,
            peer_name="torch.utils.tensorboard SummaryWriter.add_histogram (same tensor)",
            goal=goal, goal_text=goal_text,
            note=f"ours: exact, {H.BINS} bins on a power-of-two grid fitted to the data; TensorBoard: "
                 "numpy histogram, re-binned to 30 bins when displayed"))
    figures.append(Figure(
        key=f"weights.hist_1m_histc_{device}", title=f"weights: 1M histogram vs aminmax+histc ({device})",
        ours=t_ours * 1e3, unit="ms", peer=t_histc * 1e3, peer_name="torch.aminmax + torch.histc (256 bins)",
        note="informational: histc's float bin edges are not exact"))
    return figures


def histogram_all_layers(device: str, quick: bool) -> Figure:
    """Histograms of every weight and gradient of the default model, as the probe makes them."""
    import torch

    from gpuviz_app.core.probes.weights import histogram as H
    from gpuviz_app.core.config import TrainConfig
    from gpuviz_app.core.trainer import Trainer
    from gpuviz_app.data.builtin import digits
    from gpuviz_app.data.device import DeviceDataset

    trainer = Trainer(DeviceDataset(digits(), device), TrainConfig())
    trainer.train(2)
    tensors = [(n, p.detach()) for n, p in trainer.model.named_parameters()]
    tensors += [(n + "/grad", p.grad) for n, p in trainer.model.named_parameters() if p.grad is not None]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    repeat = 5 if quick else 15

    def ours() -> None:
        for _, t in tensors:
            H.histogram(t)
        sync()

    t_ours = best_time(ours, repeat=repeat, warmup=2)
    title = f"weights: histograms of all {len(tensors)} tensors ({device})"
    writer = _tensorboard_writer()
    if writer is None:
        return Figure(key=f"weights.hist_all_{device}", title=title, ours=t_ours * 1e3, unit="ms",
                      note="peer not installed: pip install 'gpuviz-app[bench]' (tensorboard)")
    step = iter(range(10**9))

    def tensorboard() -> None:
        i = next(step)
        for name, t in tensors:
            writer.add_histogram(name, t, i)

    t_tb = best_time(tensorboard, repeat=repeat, warmup=1)
    writer.close()
    return Figure(key=f"weights.hist_all_{device}", title=title, ours=t_ours * 1e3, unit="ms", peer=t_tb * 1e3,
                  peer_name="SummaryWriter.add_histogram on the same tensors", higher_is_better=False,
                  note=f"default CNN, weights and gradients; ours {H.BINS} exact bins per tensor")


def run(quick: bool) -> list[Figure]:
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    figures: list[Figure] = []
    for device in devices:
        figures.append(per_step_cost(device, quick))
        if device == "cpu":
            figures.extend(per_step_models(quick))
        figures.extend(histogram_1m(device, quick))
        figures.append(histogram_all_layers(device, quick))
    return figures
