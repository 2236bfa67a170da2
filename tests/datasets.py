"""Small valid dataset files of every format gpuviz reads, written at test time.

Each maker writes into a folder and returns a `Sample`: what to open (one path or several
dropped together) and the sample and class counts the loader must find.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass
class Sample:
    paths: list[Path]
    samples: int
    classes: int
    kind: str = "vectors"
    skipped: int = 0

    @property
    def spec(self):
        return str(self.paths[0]) if len(self.paths) == 1 else [str(p) for p in self.paths]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    codes = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}
    code = codes[array.dtype.type]
    data = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.astype(array.dtype.newbyteorder(">")).tobytes()
    if gz:
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def idx_images(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def make_idx_folder(root: Path) -> Sample:
    folder = root / "mnist-like"
    folder.mkdir()
    x, y = idx_images(60)
    y[:10] = np.arange(10)
    write_idx(folder / "train-images-idx3-ubyte", x)
    write_idx(folder / "train-labels-idx1-ubyte", y)
    return Sample([folder], 60, 10, "images")


def make_idx_gz_pair(root: Path) -> Sample:
    x, y = idx_images(50, seed=1)
    y[:5] = np.arange(5)
    y = y % 5
    a = write_idx(root / "t10k-images-idx3-ubyte.gz", x, gz=True)
    b = write_idx(root / "t10k-labels-idx1-ubyte.gz", y, gz=True)
    return Sample([a, b], 50, 5, "images")


def make_csv(root: Path) -> Sample:
    rng = _rng(2)
    names = ["setosa", "versicolor", "virginica"]
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    for i in range(30):
        values = rng.normal(5, 1, 4)
        lines.append(",".join(f"{v:.2f}" for v in values) + f",{names[i % 3]}")
    path = root / "iris.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Sample([path], 30, 3)


def make_tsv(root: Path) -> Sample:
    rng = _rng(3)
    lines = [f"{rng.integers(0, 2)}\t" + "\t".join(f"{v:.3f}" for v in rng.normal(size=3)) for _ in range(40)]
    # no header; the last column is the label: move the integer there
    rows = [ln.split("\t") for ln in lines]
    rows = [r[1:] + [str(i % 2)] for i, r in enumerate(rows)]
    path = root / "table.tsv"
    path.write_text("\n".join("\t".join(r) for r in rows), encoding="utf-8")
    return Sample([path], 40, 2)


def make_csv_cp1252(root: Path) -> Sample:
    lines = ["Größe;Gewicht;Klasse"]
    for i in range(20):
        lines.append(f"{1 + i / 10:.1f}".replace(".", ",") + f";{i % 7},5;{['Äpfel', 'Birnen'][i % 2]}")
    path = root / "obst.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1252"))
    return Sample([path], 20, 2)


def make_npz(root: Path) -> Sample:
    rng = _rng(4)
    path = root / "vectors.npz"
    np.savez(path, X=rng.normal(size=(80, 5)).astype(np.float32), y=np.arange(80) % 4)
    return Sample([path], 80, 4)


def make_npz_splits(root: Path) -> Sample:
    rng = _rng(5)
    path = root / "keras-style.npz"
    np.savez_compressed(path, x_train=rng.integers(0, 256, (40, 12, 12), dtype=np.uint8), y_train=np.arange(40) % 3,
                        x_test=rng.integers(0, 256, (15, 12, 12), dtype=np.uint8), y_test=np.arange(15) % 3)
    return Sample([path], 55, 3, "images")


def make_npy_last_column(root: Path) -> Sample:
    rng = _rng(6)
    table = np.concatenate([rng.normal(size=(45, 3)), (np.arange(45) % 3)[:, None]], axis=1)
    path = root / "table.npy"
    np.save(path, table)
    return Sample([path], 45, 3)


def make_npy_pair(root: Path) -> Sample:
    rng = _rng(7)
    a = root / "X.npy"
    b = root / "y.npy"
    np.save(a, rng.normal(size=(36, 6)).astype(np.float32))
    np.save(b, np.array(["cat", "dog"] * 18))
    return Sample([a, b], 36, 2)


def make_pt_dict(root: Path) -> Sample:
    import torch

    g = torch.Generator().manual_seed(8)
    path = root / "data.pt"
    torch.save({"x": torch.randn(64, 3, 8, 8, generator=g).sigmoid(), "y": torch.arange(64) % 4,
                "classes": ["a", "b", "c", "d"]}, path)
    return Sample([path], 64, 4, "images")


def make_pt_tuple(root: Path) -> Sample:
    import torch

    g = torch.Generator().manual_seed(9)
    path = root / "pair.pth"
    torch.save((torch.randn(30, 7, generator=g), torch.arange(30) % 2), path)
    return Sample([path], 30, 2)


def make_safetensors(root: Path) -> Sample:
    from safetensors.numpy import save_file

    rng = _rng(10)
    path = root / "data.safetensors"
    save_file({"features": rng.normal(size=(48, 10)).astype(np.float32),
               "labels": (np.arange(48) % 6).astype(np.int64)}, str(path))
    return Sample([path], 48, 6)


def make_image_folder(root: Path) -> Sample:
    """Three classes, every image format, mixed sizes and modes, one broken file."""
    from PIL import Image

    rng = _rng(11)
    folder = root / "shapes"
    formats = [("png", "L", (20, 20)), ("jpg", "RGB", (24, 18)), ("bmp", "RGB", (20, 20)),
               ("gif", "P", (20, 20)), ("webp", "RGB", (16, 16)), ("tiff", "RGBA", (20, 20)),
               ("jpeg", "L", (20, 20)), ("png", "RGB", (20, 20))]
    n = 0
    for c in ("circle", "square", "triangle"):
        (folder / c).mkdir(parents=True)
        for i, (ext, mode, size) in enumerate(formats):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            image = Image.fromarray(pixels, "RGB").convert(mode)
            image.save(folder / c / f"{i}.{ext}")
            n += 1
    (folder / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    (folder / "square" / "notes.txt").write_text("not an image")
    return Sample([folder], n, 3, "images", skipped=1)


def make_class_folders_dropped(root: Path) -> Sample:
    from PIL import Image

    rng = _rng(12)
    paths = []
    for c in ("cats", "dogs"):
        folder = root / c
        folder.mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (10, 10), dtype=np.uint8), "L").save(folder / f"{i}.png")
        paths.append(folder)
    return Sample(paths, 12, 2, "images")


# name -> maker; every format of the issue, including dropped pairs
MAKERS: dict[str, Callable[[Path], Sample]] = {
    "images": make_image_folder,
    "image-class-folders": make_class_folders_dropped,
    "csv": make_csv,
    "tsv": make_tsv,
    "csv-cp1252": make_csv_cp1252,
    "npz": make_npz,
    "npz-splits": make_npz_splits,
    "npy": make_npy_last_column,
    "npy-pair": make_npy_pair,
    "idx-folder": make_idx_folder,
    "idx-gz-pair": make_idx_gz_pair,
    "pt-dict": make_pt_dict,
    "pt-tuple": make_pt_tuple,
    "safetensors": make_safetensors,
}

BUILTIN_COUNTS = {"digits": (1797, 10), "spirals": (1000, 2), "moons": (1000, 2), "circles": (1000, 2),
                  "blobs": (1000, 4), "xor": (1000, 2)}


def make(name: str, root: Path) -> Sample:
    root.mkdir(parents=True, exist_ok=True)
    return MAKERS[name](root)
