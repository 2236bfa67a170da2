"""Datasets that ship with gpuviz, so a first launch needs no file."""

from __future__ import annotations

import numpy as np

from gpuviz_app.data.dataset import Dataset
from gpuviz_app.resources import resource

DEFAULT = "digits"


def digits() -> Dataset:
    """The 8x8 handwritten digits (UCI Optical Recognition of Handwritten Digits, CC BY 4.0)."""
    with np.load(resource("digits.npz"), allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    x = (images.astype(np.float32) / 16.0)[:, None, :, :]
    return Dataset(
        name="digits (8x8)",
        x=x,
        y=labels.astype(np.int64),
        classes=[str(i) for i in range(10)],
        kind="images",
        source="builtin:digits",
    )


BUILTINS = {"digits": digits}


def load_builtin(name: str) -> Dataset:
    return BUILTINS[name]()
