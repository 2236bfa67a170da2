"""Dataset loading: an MNIST-sized IDX set and a folder of small images, against the issue's goals.

The goals are absolute times (IDX 60,000 x 784 in <= 3 s, 10,000 small images in <= 10 s), so
each figure's peer is the goal itself: ratio >= 1 meets it. A naive reference measured in the
same run (numpy.frombuffer on the decompressed file; a plain Pillow loop) is reported beside it
for scale: ours also checks sizes, validates, reports progress and can be cancelled.
"""

from __future__ import annotations

import gzip
import struct
import tempfile
from pathlib import Path

import numpy as np

from gpuviz_app.bench.common import Figure, best_time

IDX_GOAL_S = 3.0
IMAGES_GOAL_S = 10.0


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
    return figures
