"""Loading files and folders by what they contain."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from gpuviz_app.data.dataset import Dataset, DatasetError


def load_path(path: Path) -> Dataset:
    if not path.exists():
        raise DatasetError(path, "no such file or folder")
    if path.suffix.lower() == ".npz":
        return _load_npz(path)
    raise DatasetError(path, "not a dataset format gpuviz knows")


def load_paths(paths: Sequence[Path]) -> Dataset:
    raise DatasetError(paths[0], "several files were given, and they do not form one dataset")


def _load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as f:
            x, y = f["x"], f["y"]
    except Exception as exc:  # noqa: BLE001 - every failure becomes a refusal with a reason
        raise DatasetError(path, f"could not be read as a NumPy archive ({exc})") from None
    classes = [str(c) for c in np.unique(y)]
    _, y = np.unique(y, return_inverse=True)
    return Dataset(path.stem, x.astype(np.float32), y, classes, "vectors", source=str(path))
