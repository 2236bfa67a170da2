"""Embedding view: GUI-thread cost of a point-cloud update, and the cost of re-projecting.

(a) One update of N points, as the GUI thread pays it (the data handed over, the GL
    commands flushed, no rasterisation): our points visual writes one float32 position
    buffer; stock VisPy `Markers.set_data` rebuilds and uploads its per-point records.
(b) Re-projecting 100,000 x 256 activations to 2-D after a training step: our warm-started
    PCA (one fused pass from the previous frame's axes) against a cold scikit-learn PCA.
"""

from __future__ import annotations

import numpy as np

from gpuviz_app.bench.common import Figure, best_time

PEER_MISSING = "peer not installed (pip install 'gpuviz-app[bench]')"


def _frames(n: int, count: int = 2) -> list:
    """Embedding payloads of `n` points as the probe hands them over (bounds included)."""
    import torch

    from gpuviz_app.core.probes.embedding.frame import EmbeddingFrame

    rng = np.random.default_rng(0)
    labels = torch.from_numpy(rng.integers(0, 10, n).astype(np.float32))
    frames = []
    for i in range(count):
        positions = torch.from_numpy(rng.normal(size=(n, 2)).astype(np.float32))
        frames.append(EmbeddingFrame(
            frame=i + 1, step=i, positions=positions, labels=labels, predicted=labels, index=torch.arange(n),
            sample_id=1, epoch=1, dims=2, layer="bench", features=64, method="pca",
            classes=[str(c) for c in range(10)], kind="vectors", inputs=np.zeros((n, 1), np.float32),
            bounds=torch.stack([positions.amin(dim=0), positions.amax(dim=0)])))
    return frames


def update_cost(n: int, repeat: int) -> Figure:
    """One new frame through `EmbeddingView.update` vs `Markers.set_data`, GL commands flushed."""
    import os
    from dataclasses import replace

    os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    from vispy import app, scene

    from gpuviz_app.core.history import MetricsHistory
    from gpuviz_app.core.snapshot import Snapshot
    from gpuviz_app.render.canvas import ViewCanvas
    from gpuviz_app.render.views.embedding import EmbeddingView
    from gpuviz_app.render.views.embedding.overlay import class_colors

    frames = _frames(n)
    history = MetricsHistory(capacity=4)
    view = EmbeddingView()
    host = ViewCanvas([view], size=(320, 240), app=app.Application("egl"))
    canvas = host.canvas
    try:
        host.settle()
        count = [0]

        def ours() -> None:
            count[0] += 1
            frame = replace(frames[count[0] % 2], frame=count[0] + 1, step=count[0])
            host.push(Snapshot(run_id=1, step=count[0], wall_time=0.0, metrics=history, latest={},
                               parts={"embedding": frame}, versions={"embedding": count[0]}))
            canvas.context.flush_commands()

        ours()
        canvas.render()  # GL objects exist from here on
        ours_s = best_time(ours, repeat=repeat)
        view.points.parent = None

        labels = frames[0].labels.numpy().astype(int)
        colors = class_colors(10).astype(np.float32)[labels] / 255  # computed once, not timed
        arrays = [f.positions.numpy() for f in frames]
        markers = scene.visuals.Markers(parent=view.viewbox.scene)
        markers.set_data(arrays[0], face_color=colors, size=1, edge_width=0)
        canvas.render()

        def peer() -> None:
            count[0] += 1
            markers.set_data(arrays[count[0] % 2], face_color=colors, size=1, edge_width=0)
            canvas.context.flush_commands()

        peer_s = best_time(peer, repeat=repeat)
    finally:
        host.close()
    million = n >= 1_000_000
    return Figure(
        key=f"embedding.update_{n}", title=f"embedding update, {n:,} points (GUI thread)",
        ours=ours_s * 1e3, unit="ms", peer=peer_s * 1e3, peer_name="vispy Markers.set_data, same points",
        goal=10.0 if million else None, goal_text=">= 10x" if million else "",
        note="EmbeddingView.update (one position-buffer write) vs per-point records; GL flushed, no rasterising",
    )


def activations(n: int, d: int, seed: int) -> np.ndarray:
    """Activations with a dominant low-rank structure (as a trained layer has) plus noise."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(16, d)) * np.geomspace(4.0, 0.5, 16)[:, None]
    return (np.maximum(rng.normal(size=(n, 16)) @ basis + rng.normal(size=(n, d)) * 0.3, 0)).astype(np.float32)


def projection_cost(n: int, d: int, repeat: int, device: str = "cpu") -> Figure:
    import torch

    from gpuviz_app.core.probes.embedding.projection import WarmPCA

    base = activations(n, d, seed=1)
    drift = np.random.default_rng(2).normal(size=(d, d)).astype(np.float32) * 0.01
    frames = [torch.from_numpy(base).to(device), torch.from_numpy(base @ (np.eye(d, dtype=np.float32) + drift)).to(device)]
    pca = WarmPCA(dims=2)
    pca(frames[0])  # the first frame's cold start is not what is measured
    turn = [0]

    def ours() -> None:
        turn[0] ^= 1
        pca(frames[turn[0]])
        if device != "cpu":
            torch.cuda.synchronize()

    title = f"embedding PCA update {n // 1000}k x {d}" + (" (CUDA)" if device != "cpu" else "")
    goal = 20.0 if device != "cpu" else 3.0
    figure = Figure(key=f"embedding.pca_{device}", title=title, ours=0.0, unit="ms",
                    goal=goal, goal_text=f">= {goal:g}x",
                    note="warm-started subspace iteration after a first frame, vs a cold PCA of the same data")
    try:
        from sklearn.decomposition import PCA
    except ImportError:
        figure.ours = best_time(ours, repeat=repeat) * 1e3
        figure.note = PEER_MISSING
        return figure
    host = base.copy()
    ours_s, peer_s = interleaved(ours, lambda: PCA(n_components=2).fit_transform(host), repeat)
    figure.ours, figure.peer = ours_s * 1e3, peer_s * 1e3
    figure.peer_name = "scikit-learn PCA(n_components=2).fit_transform, on the CPU"
    return figure


def interleaved(ours, peer, repeat: int, pause_s: float = 0.25) -> tuple[float, float]:
    """Best times of `ours` and `peer`, alternated, with a pause before each so that one
    library's idle-spinning worker threads do not tax the other's run."""
    import time

    best = [float("inf"), float("inf")]
    for _ in range(repeat + 1):  # the first round warms up
        for i, fn in enumerate((peer, ours)):
            time.sleep(pause_s)
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best[1], best[0]


def run(quick: bool = False) -> list[Figure]:
    import torch

    repeat = 3 if quick else 7
    figures = [update_cost(100_000, repeat), update_cost(1_000_000, 3 if quick else 5),
               projection_cost(100_000, 256, repeat)]
    if torch.cuda.is_available():
        figures.append(projection_cost(100_000, 256, repeat, device="cuda"))
    return figures
