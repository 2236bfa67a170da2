"""Dataset loading: an MNIST-sized IDX set, a folder of small images, and a large CSV.

The large CSV is loaded through the window's own loader while a 20 ms timer ticks on the main
thread; the figures are the longest gap between ticks (the GUI thread's longest stall) against
250 ms, and the peak memory of the load (this process and the parsing process) against the
final float32 array. It runs in a fresh interpreter, so earlier figures do not colour its memory.

The goals are absolute times (IDX 60,000 x 784 in <= 3 s, 10,000 small images in <= 10 s), so
each figure's peer is the goal itself: ratio >= 1 meets it. A naive reference measured in the
same run (numpy.frombuffer on the decompressed file; a plain Pillow loop) is reported beside it
for scale: ours also checks sizes, validates, reports progress and can be cancelled.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gpuviz_app.bench.common import Figure, best_time

IDX_GOAL_S = 3.0
IMAGES_GOAL_S = 10.0
STALL_GOAL_S = 0.25
MEMORY_GOAL = 2.0  # peak memory of a load, in multiples of the final array


def _digits_like(rng: np.random.Generator, n: int, side: int = 28) -> np.ndarray:
    """Mostly-dark images with a bright blob, so the files compress like real digit scans."""
    yy, xx = np.mgrid[:side, :side]
    cy, cx = rng.uniform(8, side - 8, (2, n, 1, 1))
    r = rng.uniform(3, 7, (n, 1, 1))
    blob = np.clip(255 * (1.5 - np.hypot(yy - cy, xx - cx) / r), 0, 255)
    return blob.astype(np.uint8)


def write_idx_pair(folder: Path, n: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    images = _digits_like(rng, n)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    a, b = folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    a.write_bytes(gzip.compress(struct.pack(">BBBBIII", 0, 0, 8, 3, n, 28, 28) + images.tobytes(), 6, mtime=0))
    b.write_bytes(gzip.compress(struct.pack(">BBBBI", 0, 0, 8, 1, n) + labels.tobytes(), 6, mtime=0))
    return [a, b]


def write_image_folder(folder: Path, n: int, seed: int = 1) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = _digits_like(rng, n)
    for c in range(10):
        (folder / f"class{c}").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(images[i], "L").save(folder / f"class{i % 10}" / f"{i}.png", compress_level=1)
    return folder


def write_large_csv(path: Path, megabytes: float, features: int = 50, seed: int = 0) -> int:
    """A header, `features` float columns and a label column of 10 classes, about `megabytes`
    large (one block of 10,000 random rows, repeated); returns the number of rows."""
    rng = np.random.default_rng(seed)
    n = 10_000
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = rng.integers(0, 10, n)
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([x, y]), fmt=["%.5f"] * features + ["%d"], delimiter=",")
    block = buf.getvalue().encode()
    repeats = max(1, round(megabytes * 2**20 / len(block)))
    with open(path, "wb") as f:
        f.write((",".join([f"f{i}" for i in range(features)] + ["label"]) + "\n").encode())
        for _ in range(repeats):
            f.write(block)
    return repeats * n


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_large_load(path: str) -> dict:
    """Load `path` with the window's DatasetLoader under a Qt event loop; the longest gap of a
    20 ms timer, the peak memory over the start (sampled per tick, plus the parsing process's
    peak), and the array's size. Call in a fresh process."""
    from PySide6 import QtCore

    from gpuviz_app.ui.dataset_loader import DatasetLoader

    app = QtCore.QCoreApplication.instance() or QtCore.QCoreApplication([])
    import gpuviz_app.data.formats.table_process  # noqa: F401  (imported before the baseline)

    base = _rss()
    state = {"last": time.perf_counter(), "gap": 0.0, "peak": base, "result": None, "ticks": 0, "updates": 0}

    def tick() -> None:
        now = time.perf_counter()
        state["gap"] = max(state["gap"], now - state["last"])
        state["last"] = now
        state["ticks"] += 1
        state["peak"] = max(state["peak"], _rss())

    def finish(result) -> None:
        state["result"] = result
        app.quit()

    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    loader = DatasetLoader()
    loader.progress.connect(lambda f, m: state.__setitem__("updates", state["updates"] + 1))
    loader.loaded.connect(lambda data, spec: finish(data))
    loader.failed.connect(lambda p, reason, spec: finish(f"{p}: {reason}"))
    started = time.perf_counter()
    timer.start(20)
    loader.start(path)
    app.exec()
    seconds = time.perf_counter() - started
    timer.stop()
    loader.shutdown()
    data = state["result"]
    if isinstance(data, str) or data is None:
        raise RuntimeError(data or "the load did not finish")
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"seconds": seconds, "longest_gap_s": state["gap"], "ticks": state["ticks"],
            "progress_updates": state["updates"], "array_bytes": int(data.x.nbytes),
            "peak_bytes": int(max(state["peak"], _rss()) - base + child), "rows": len(data)}


def _large_csv_figures(root: Path, quick: bool) -> list[Figure]:
    megabytes = 20 if quick else 200
    path = root / "large.csv"
    write_large_csv(path, megabytes)
    code = ("import json, sys; from gpuviz_app.bench.loading import measure_large_load; "
            f"print(json.dumps(measure_large_load({str(path)!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1200,
                          env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "the load failed")
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    size = path.stat().st_size / 2**20
    note = (f"{size:.0f} MB CSV, {m['rows']:,} rows, loaded in {m['seconds']:.1f} s with "
            f"{m['progress_updates']} progress updates")
    stall = Figure(key="loading.csv_stall", title="large CSV load: longest GUI-thread stall", ours=m["longest_gap_s"],
                   unit="s", peer=STALL_GOAL_S, peer_name="the issue's limit (250 ms)", goal=1.0,
                   goal_text="< 250 ms", note=f"{note}; {m['ticks']} ticks of a 20 ms timer", extra=m)
    ratio = m["peak_bytes"] / m["array_bytes"]
    memory = Figure(key="loading.csv_memory", title="large CSV load: peak memory / float32 array", ours=ratio,
                    unit="x", peer=MEMORY_GOAL, peer_name="the issue's limit (2x the array)", goal=1.0,
                    goal_text="<= 2x the array",
                    note=f"peak {m['peak_bytes'] / 2**20:.0f} MB (this process and the parsing process, whose "
                         f"interpreter and NumPy alone take ~45 MB) for an array of "
                         f"{m['array_bytes'] / 2**20:.0f} MB", extra=m)
    return [stall, memory]


def _naive_idx(paths: list[Path]) -> np.ndarray:
    with gzip.open(paths[0], "rb") as f:
        raw = f.read()
    n = struct.unpack(">I", raw[4:8])[0]
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, 28, 28).astype(np.float32) / 255
    with gzip.open(paths[1], "rb") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return x, y


def _naive_images(folder: Path) -> np.ndarray:
    from PIL import Image

    files = sorted(folder.glob("*/*.png"))
    return np.stack([np.asarray(Image.open(f).convert("L")) for f in files]).astype(np.float32) / 255


def _measure(spec, repeat: int) -> tuple[float, int, int]:
    from gpuviz_app.data.open import load_dataset

    counts: list[int] = []

    def once() -> None:
        updates = [0]
        data = load_dataset(spec, progress=lambda f, m: updates.__setitem__(0, updates[0] + 1))
        counts.append(updates[0])
        once.samples = len(data)  # type: ignore[attr-defined]

    seconds = best_time(once, repeat=repeat, warmup=1)
    return seconds, min(counts), once.samples  # type: ignore[attr-defined]


def _goal_figure(key: str, title: str, goal: float, quick: bool, ours: float, updates: int, samples: int,
                 naive: float, reference: str) -> Figure:
    """A load time against the issue's goal (scaled down with --quick)."""
    return Figure(key=key, title=title, ours=ours, unit="s", peer=goal,
                  peer_name=f"the issue's goal ({goal:g} s{' scaled' if quick else ''})", goal=1.0,
                  goal_text=f"<= {goal:g} s", note=f"{updates} progress updates; {reference}",
                  extra={"samples": samples, "progress_updates": updates, "naive_s": naive})


def run(quick: bool) -> list[Figure]:
    scale = 0.1 if quick else 1.0
    n_idx, n_images = int(60_000 * scale), int(10_000 * scale)
    repeat = 2 if quick else 3
    figures = []
    with tempfile.TemporaryDirectory(prefix="gpuviz-bench-") as tmp:
        root = Path(tmp)
        pair = write_idx_pair(root, n_idx)
        ours, updates, samples = _measure([str(p) for p in pair], repeat)
        naive = best_time(lambda: _naive_idx(pair), repeat=repeat)
        figures.append(_goal_figure("loading.idx", f"IDX {n_idx:,} x 784 (gzip) load", IDX_GOAL_S * scale,
                                    quick, ours, updates, samples, naive,
                                    f"naive numpy.frombuffer reference {naive:.2f} s"))
        folder = write_image_folder(root / "images", n_images)
        ours, updates, samples = _measure(str(folder), max(1, repeat - 1))
        naive = best_time(lambda: _naive_images(folder), repeat=max(1, repeat - 1))
        figures.append(_goal_figure("loading.images", f"image folder, {n_images:,} PNGs 28x28",
                                    IMAGES_GOAL_S * scale, quick, ours, updates, samples, naive,
                                    f"plain Pillow loop reference {naive:.2f} s"))
        figures.extend(_large_csv_figures(root, quick))
    return figures
