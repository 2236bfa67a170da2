"""Weights probe: the cost of tracking every step, and one histogram against TensorBoard's.

(a) The per-step reductions (histograms of every layer's weights and gradients, norms,
update ratio, dead flags) for the default CNN on the built-in digits, as a share of a
training step: two identical trainers train in alternating blocks, one with the
tracker's step hook; the hook's own time, plus the flushes the probe makes when it
runs (every FLUSH_EVERY steps, about the app's rate on a CPU), is compared with the
plain trainer's step time.
(b) An exact histogram of 1M float32 weights (range, grid, bins, counts; on the device)
against `SummaryWriter.add_histogram` on the same tensor.
"""

from __future__ import annotations

import tempfile
import time

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
              f"{100 * (best_hooked / best_plain - 1):+.1f}%; {type(probe.tracker).__name__}, "
              f"{exact} of {hooked.step_count} steps re-binned after leaving the grid"),
    )


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
        figures.extend(histogram_1m(device, quick))
        figures.append(histogram_all_layers(device, quick))
    return figures
