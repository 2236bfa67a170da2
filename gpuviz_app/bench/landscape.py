"""Loss surfaces: gpuviz's background grid against the loss-landscapes package's random_plane.

Same model (the default CNN, briefly trained on digits), same evaluation batch, same 31x31
grid with filter-normalised directions, in one run: (a) full-grid time, (b) time to the first
coarse picture against our full grid, (c) training steps/s while the surface refines in the
background against training alone, (d) the full-grid time on other kinds of model (see
`landscape_models`), each against the peer on the same model, data and grid, with the
evaluation strategy the evaluator measured and chose for it. Both sides: the best of two runs after
a warm-up. `quick` uses small grids, few
samples and shorter windows (a smoke run); the figures the goals speak of are the full run's.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time

from gpuviz_app.bench.common import Figure

GRID = 31
QUICK_GRID = 21
MODEL_SAMPLES, QUICK_MODEL_SAMPLES = 128, 8  # evaluation batch of the other models
QUICK_MODEL_GRID = 7


def _setup(quick: bool):  # noqa: ANN202
    import torch

    from gpuviz_app.core.config import TrainConfig
    from gpuviz_app.core.probes.landscape.evaluate import evaluation_batch
    from gpuviz_app.core.trainer import Trainer
    from gpuviz_app.data.builtin import digits
    from gpuviz_app.data.device import DeviceDataset

    device = "cuda" if torch.cuda.is_available() else "cpu"
    data = DeviceDataset(digits(), device)
    trainer = Trainer(data, TrainConfig(lr=3e-3))
    trainer.train(50 if quick else 100)
    x, y = evaluation_batch(trainer.context, 32 if quick else 256)
    return device, data, trainer, x, y


def _ours(model, loss_fn, x, y, device: str, grid: int) -> tuple[float, float, str, dict[str, float], str]:
    """Seconds to the first coarse picture and to the full grid, from the centre's hand-over
    (the best of two runs, the first of which also measures the strategies), the evaluation
    strategy the evaluator chose, with what it measured, and how its forwards ran (the image
    layout it measured and chose, the batch norms it folded)."""
    import torch

    from gpuviz_app.core.probes.landscape.background import LandscapeComputer, Weights
    from gpuviz_app.core.probes.landscape.evaluate import SurfaceEvaluator
    from gpuviz_app.core.probes.landscape.payload import LandscapeOptions

    published: list[tuple[float, int]] = []
    done = threading.Event()

    def on_publish(p) -> None:
        published.append((time.perf_counter(), p.finished_side))
        if p.state == "done":
            done.set()

    evaluator = SurfaceEvaluator(model, loss_fn, x, y)
    computer = LandscapeComputer(evaluator, share=1.0, workers=torch.get_num_threads(), on_publish=on_publish)
    options = LandscapeOptions(resolution=grid, span=1.0)
    try:
        best = (float("inf"), float("inf"))
        for _ in range(2):  # the first run warms up (vmap tracing, CUDA kernels)
            published.clear()
            done.clear()
            flat = evaluator.layout.flatten(model)
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            computer.recentre(Weights(step=0, flat=flat, options=options))
            done.wait(600)
            first, full = published[0][0] - start, published[-1][0] - start
            best = min(best, (first, full), key=lambda t: t[1])
        return best[0], best[1], evaluator.strategy or "?", dict(evaluator.timings), _forwards(evaluator)
    finally:
        computer.close()


def _peer(model, loss_fn, x, y, device: str, grid: int) -> tuple[float | None, str]:
    """loss-landscapes' random_plane on the same model, batch and grid (one point at a time)."""
    import copy

    import torch

    model = copy.deepcopy(model).eval()
    try:
        import loss_landscapes
        import loss_landscapes.metrics
    except ImportError:
        return _timed(lambda steps: _reference_random_plane(model, loss_fn, x, y, steps), grid), (
            "loss-landscapes not installed (pip install 'gpuviz-app[bench]'): its random_plane algorithm, "
            "re-implemented point by point, stands in")
    metric = loss_landscapes.metrics.Loss(loss_fn, x, y)
    # the package creates its directions with torch.rand(size) (no device): on CUDA the default
    # device puts them next to the weights, with the package's code unchanged
    where = torch.device(device) if device == "cuda" else contextlib.nullcontext()
    try:
        with where:
            seconds = _timed(lambda steps: loss_landscapes.random_plane(
                model, metric, distance=1, steps=steps, normalization="filter", deepcopy_model=True), grid)
    except Exception as exc:  # noqa: BLE001 - fall back to the same algorithm, said in the note
        return _timed(lambda steps: _reference_random_plane(model, loss_fn, x, y, steps), grid), (
            f"loss-landscapes failed here ({type(exc).__name__}: {exc}); its random_plane algorithm, "
            "re-implemented point by point, stands in")
    return seconds, "loss-landscapes random_plane, filter normalisation, under torch.no_grad"


def _timed(plane, grid: int) -> float:
    """The best of two runs after a warm-up, as ours is."""
    import torch

    with torch.no_grad():
        plane(3)  # warm-up
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            plane(grid)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        return best


def _reference_random_plane(model, loss_fn, x, y, steps: int) -> list[list[float]]:
    """loss-landscapes' random_plane: filter-normalised directions, then one forward per point,
    moving the weights in place along a serpentine through the grid."""
    import torch

    params = [p for p in model.parameters()]
    norm = lambda ts: sum(float(t.pow(2).sum()) for t in ts) ** 0.5  # noqa: E731
    d1 = [torch.rand_like(p) for p in params]
    d2 = [torch.rand_like(p) for p in params]
    dot = sum(float((a * b).sum()) for a, b in zip(d1, d2))
    d2 = [b - dot * a / norm(d1) ** 2 for a, b in zip(d1, d2)]
    for d in (d1, d2):
        for t, w in zip(d, params):
            if t.dim() == 1:
                t *= w.norm() / t.norm()
            for f in range(len(t)):
                t[f] *= float(w[f].pow(2).sum().sqrt()) / float(t[f].pow(2).sum().sqrt())
        scale = norm(params) / steps / norm(d)
        for t in d:
            t *= scale
    for a, b, w in zip(d1, d2, params):
        w -= (a + b) * steps / 2
    rows = []
    for i in range(steps):
        column = []
        for _ in range(steps):
            for w, b in zip(params, d2):
                w += b if i % 2 == 0 else -b
            column.append(loss_fn(model(x), y).item())
        rows.append(column if i % 2 == 0 else column[::-1])
        for w, a in zip(params, d1):
            w += a
    return rows


def _steps_per_s(seconds: float, with_landscape: bool, device: str) -> float:
    from gpuviz_app.core.probes import probe_factories
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.builtin import digits

    probes = probe_factories({"landscape"}) if with_landscape else {}
    s = TrainingSession(digits, device=device, probes=probes)
    if with_landscape:  # a large grid, re-centred often: the background is busy all the time
        s.configure_probe("landscape", {"resolution": 101, "recentre_every": 100})
    t = threading.Thread(target=s.run, daemon=True)
    t.start()
    try:
        while s.trainer is None or s.trainer.step_count < 20:
            time.sleep(0.01)
        if with_landscape:
            while s.mailbox.peek() is None or s.mailbox.peek().parts.get("landscape") is None \
                    or s.mailbox.peek().parts["landscape"].grid is None:
                time.sleep(0.01)
        step0, t0 = s.trainer.step_count, time.perf_counter()
        time.sleep(seconds)
        steps, elapsed = s.trainer.step_count - step0, time.perf_counter() - t0
        busy = with_landscape and s.mailbox.peek().parts["landscape"].state == "computing"
        if with_landscape and not busy:
            raise RuntimeError("the background grid finished before the measurement ended")
    finally:
        s.stop()
        t.join(10)
    return steps / elapsed


def _throughput(quick: bool) -> tuple[list[float], list[float]]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    seconds, rounds = (1.5, 1) if quick else (8.0, 2)
    alone, with_bg = [], []
    for _ in range(rounds):  # interleaved, best of each: the machine is shared and noisy
        alone.append(_steps_per_s(seconds, False, device))
        with_bg.append(_steps_per_s(seconds, True, device))
    return alone, with_bg


def _throughput_in_fresh_process(quick: bool) -> tuple[list[float], list[float]]:
    """Training rates measured in a fresh interpreter: once a thread other than training's has
    run torch with two threads (this process did, above), libgomp stops spinning at barriers
    and every training here runs at about half speed, which would misstate both arms."""
    cmd = [sys.executable, "-m", "gpuviz_app.bench.landscape"] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"landscape throughput failed: {proc.stderr.strip()[-500:]}")
    alone, with_bg = json.loads(proc.stdout.strip().splitlines()[-1])
    return alone, with_bg


def run(quick: bool) -> list[Figure]:
    device, data, trainer, x, y = _setup(quick)
    grid = QUICK_GRID if quick else GRID
    first, full, strategy, timings, forwards = _ours(trainer.model, trainer.loss_fn, x, y, device, grid)
    peer, note = _peer(trainer.model, trainer.loss_fn, x, y, device, grid)
    note = "; ".join(filter(None, (note, forwards)))
    figures = []
    cuda = device == "cuda"
    figures.append(Figure(
        key=f"landscape.grid_{device}", title=f"loss grid {grid}x{grid}, {len(y)} samples ({device})", ours=full,
        unit="s", peer=peer, peer_name="loss-landscapes random_plane" if peer is not None else "",
        goal=10.0 if cuda else 1.0, goal_text=">= 10x" if cuda else ">= 1x (not slower)", note=note,
        extra={"grid": grid, "eval_batch": len(y), "strategy": strategy, "strategy_ms": _ms(timings)}))
    if x.dim() == 4 and not cuda:  # how much of the lead is the memory layout alone
        import torch

        peer_cl, note_cl = _peer(trainer.model, trainer.loss_fn, x.to(memory_format=torch.channels_last), y,
                                 device, grid)
        figures.append(Figure(
            key=f"landscape.grid_vs_channels_last_peer_{device}",
            title=f"loss grid {grid}x{grid} vs the peer fed channels-last images ({device})", ours=full, unit="s",
            peer=peer_cl, peer_name="the same peer, its batch converted to channels-last by hand",
            note="informational: we feed images in the layout measured fastest; the rest of the lead is one "
                 "single-threaded worker per core instead of intra-op threads"))
    figures.append(Figure(
        key="landscape.first_picture", title=f"first coarse picture vs full {grid}x{grid} grid", ours=first,
        unit="s", peer=full, peer_name="our full grid", goal=None if quick else 10.0,
        goal_text="<= 10% of it" if not quick else "(full run)",
        note="first level of the coarse-to-fine grid, timed from the centre's hand-over, unthrottled"
             + ("; the goal is for the full run's 31x31 grid" if quick else "")))
    figures += _model_figures(quick, device, (full, peer, strategy, timings, note, grid, len(y)))
    alone, with_bg = _throughput_in_fresh_process(quick)
    figures.append(Figure(
        key="landscape.training_while_refining", title="training steps/s while the surface refines",
        ours=max(with_bg), unit="steps/s", peer=max(alone), peer_name="training alone", higher_is_better=True,
        goal=0.8, goal_text=">= 0.8x", note="101x101 grid refining in the background throughout, default share"))
    return figures


def _model_figures(quick: bool, device: str, default: tuple) -> list[Figure]:
    """The grid on each kind of model, ours against the peer; the default CNN's is the one above."""
    from gpuviz_app.bench.landscape_models import MODELS, bench_model

    full, peer, strategy, timings, note, grid, samples = default
    goal = 1.5 if device == "cpu" else 10.0
    goal_text = ">= 1.5x" if device == "cpu" else ">= 10x"
    figures = [Figure(
        key=f"landscape.model_cnn_{device}", title=f"loss grid {grid}x{grid}: default CNN, digits ({device})",
        ours=full, unit="s", peer=peer, peer_name="loss-landscapes random_plane" if peer is not None else "",
        goal=goal, goal_text=goal_text, note=f"evaluated {_chosen(strategy, timings)}; {note}",
        extra={"grid": grid, "eval_batch": samples, "strategy": strategy, "strategy_ms": _ms(timings)})]
    grid = QUICK_MODEL_GRID if quick else GRID
    samples = QUICK_MODEL_SAMPLES if quick else MODEL_SAMPLES
    for name in MODELS:
        m = bench_model(name, samples, 5 if quick else 100, device)
        _, full, strategy, timings, forwards = _ours(m.model, m.loss_fn, m.x, m.y, device, grid)
        peer, note = _peer(m.model, m.loss_fn, m.x, m.y, device, grid)
        note = "; ".join(filter(None, (note, forwards)))
        figures.append(Figure(
            key=f"landscape.model_{name}_{device}", title=f"loss grid {grid}x{grid}: {m.label} ({device})",
            ours=full, unit="s", peer=peer, peer_name="loss-landscapes random_plane" if peer is not None else "",
            goal=goal, goal_text=goal_text, note=f"{samples} samples, evaluated {_chosen(strategy, timings)}; {note}",
            extra={"grid": grid, "eval_batch": samples, "strategy": strategy, "strategy_ms": _ms(timings)}))
    return figures


def _forwards(evaluator) -> str:  # noqa: ANN001
    """How the evaluator's plain forwards ran: the image layout chosen and the norms folded."""
    parts = []
    if evaluator.image_layout is not None:
        measured = ", ".join(f"{k} {v:.3g}" for k, v in _ms(evaluator.layout_timings).items())
        parts.append(f"images {evaluator.image_layout} (ms per forward measured: {measured})")
    if evaluator.folded_norms:
        parts.append(f"{evaluator.folded_norms} batch norm(s) folded into their convolutions")
    return "; ".join(parts)


def _ms(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(1e3 * v, 4) for k, v in timings.items()}


def _chosen(strategy: str, timings: dict[str, float]) -> str:
    """The strategy and the per-point times it was chosen from."""
    measured = ", ".join(f"{k} {v:.3g}" for k, v in _ms(timings).items())
    return f"{strategy} (ms per point measured: {measured})" if measured else strategy


def main() -> None:
    from gpuviz_app.core.allocator import keep_freed_memory

    keep_freed_memory()  # as `gpuviz` itself does
    print(json.dumps(_throughput("--quick" in sys.argv[1:])))


if __name__ == "__main__":
    main()
