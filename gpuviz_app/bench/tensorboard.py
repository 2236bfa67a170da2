"""Opening a TensorBoard log: `gpuviz open LOGDIR`'s import against TensorBoard's own loader.

The log: STEPS steps of the default CNN (digits), every step a `loss` and an `accuracy`
scalar and a histogram of every parameter (weights and biases), as
`SummaryWriter.add_histogram` makes them (its default TensorFlow-style buckets). The
parameters drift as in training, without the training, through STATES states, each logged
for STEPS / STATES consecutive steps (making each histogram once keeps writing the log cheap;
reading costs the same). The events are the ones `SummaryWriter` writes, framed with a C
CRC-32C.

Ours: `store.tensorboard.import_logdir` plus the snapshot at the last step (what the window
shows on opening: the metrics and the weights view's columns). Peer: TensorBoard's
`EventAccumulator` with `size_guidance` 0 for every kind (keep everything, no reservoir
sampling) and `Reload()`, in the same process, once, between two of ours (the best of them).
Without TensorFlow installed, TensorBoard's reader checks each record's CRC-32C in pure Python.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import time

from gpuviz_app.bench.common import Figure

STEPS = 10_000
QUICK_STEPS = 100
STATES = 200


def write_logdir(path: str, steps: int, seed: int = 0) -> int:
    """A SummaryWriter-style log of `steps` steps in `path`; returns its size in bytes."""
    import google_crc32c
    import numpy as np
    import torch
    from tensorboard.compat.proto.event_pb2 import Event
    from torch.utils.tensorboard import summary

    from gpuviz_app.core.models import build_model
    from gpuviz_app.store.tensorboard_records import masked

    model = build_model("cnn", (1, 8, 8), 10, seed)
    params = [(name, p.detach().clone()) for name, p in model.named_parameters()]
    bins = np.array(_default_bins())
    rng = torch.Generator().manual_seed(seed)
    states = []
    for _ in range(min(STATES, steps)):
        for _, p in params:
            p.add_(torch.randn(p.shape, generator=rng), alpha=0.02 * float(p.abs().mean()) + 1e-4)
        states.append([summary.histogram(pname, p, bins) for pname, p in params])
    name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.0"
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        def put(event: Event) -> None:
            data = event.SerializeToString()
            head = struct.pack("<Q", len(data))
            f.write(head + struct.pack("<I", masked(google_crc32c.value(head))) + data
                    + struct.pack("<I", masked(google_crc32c.value(data))))

        wall = time.time()
        put(Event(wall_time=wall, file_version="brain.Event:2"))
        for step in range(steps):
            wall += 0.01
            loss = 2.3 * float(np.exp(-step / (steps / 4 + 1))) + 0.05
            put(Event(wall_time=wall, step=step, summary=summary.scalar("loss", loss)))
            put(Event(wall_time=wall, step=step, summary=summary.scalar("accuracy", 1.0 - loss / 2.5)))
            for histogram in states[step * len(states) // steps]:
                put(Event(wall_time=wall, step=step, summary=histogram))
    return os.path.getsize(os.path.join(path, name))


def _default_bins() -> list[float]:
    """SummaryWriter's default histogram buckets (`bins="tensorflow"`)."""
    v, buckets = 1e-12, []
    while v < 1e20:
        buckets.append(v)
        v *= 1.1
    return [-b for b in reversed(buckets)] + [0.0] + buckets


def _ours(path: str) -> None:
    from gpuviz_app.store.tensorboard import import_logdir

    frames = import_logdir(path)
    frames.snapshot_at(int(frames.steps()[-1]))


def _peer(path: str) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    sizes = {"compressedHistograms": 0, "images": 0, "audio": 0, "scalars": 0, "histograms": 0, "tensors": 0}
    EventAccumulator(path, size_guidance=sizes).Reload()


def _timed(fn, path: str) -> float:
    start = time.perf_counter()
    fn(path)
    return time.perf_counter() - start


def run(quick: bool) -> list[Figure]:
    steps = QUICK_STEPS if quick else STEPS
    title = f"tensorboard: open a {steps:,}-step log (s)"
    try:
        import google_crc32c  # noqa: F401
        import tensorboard  # noqa: F401
    except ImportError:
        return [Figure(key="tensorboard.open_logdir", title=title, ours=float("nan"), unit="s",
                       note="needs the tensorboard extra: pip install 'gpuviz-app[tensorboard]'")]
    folder = tempfile.mkdtemp(prefix="gpuviz-bench-tblog-")
    try:
        start = time.perf_counter()
        size = write_logdir(folder, steps)
        written = time.perf_counter() - start
        if quick:
            _ours(folder)  # imports and first calls, out of the short timings
        t_ours = _timed(_ours, folder)
        t_peer = _timed(_peer, folder)  # minutes on the full log: once
        t_ours = min(t_ours, _timed(_ours, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return [Figure(
        key="tensorboard.open_logdir", title=title, ours=t_ours, unit="s", peer=t_peer,
        peer_name="tensorboard EventAccumulator, size_guidance 0 for all (keeps everything), Reload()",
        goal=1.0, goal_text="faster",
        note=f"default CNN: 8 parameter histograms (SummaryWriter's default buckets) + 2 scalars per step, "
             f"{size / 1e6:.0f} MB written in {written:.0f} s; ours: import_logdir + the last step's snapshot",
    )]
