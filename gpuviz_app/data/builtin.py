"""Datasets that ship with gpuviz, so a first launch needs no file.

Besides the digits, small 2-D sets in the spirit of TensorFlow Playground: a newcomer sees
the decision boundary form on data they can picture. They are generated with a fixed seed,
so every launch shows the same points.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from gpuviz_app.data.dataset import Dataset
from gpuviz_app.resources import resource

DEFAULT = "digits"
SEED = 0
POINTS = 1000


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


def _points(name: str, title: str, x: np.ndarray, y: np.ndarray, classes: list[str]) -> Dataset:
    return Dataset(name=title, x=x.astype(np.float32), y=y.astype(np.int64), classes=classes, kind="vectors",
                   source=f"builtin:{name}")


def spirals(n: int = POINTS, noise: float = 0.3) -> Dataset:
    """Two interleaved spirals: the set a linear model cannot separate at all."""
    rng = np.random.default_rng(SEED)
    half = n // 2
    t = np.sqrt(rng.uniform(0, 1, half)) * 3 * np.pi
    arms = []
    for k in range(2):
        angle = t + k * np.pi
        arms.append(np.stack([t * np.cos(angle), t * np.sin(angle)], 1) / (3 * np.pi) * 5)
    x = np.concatenate(arms) + rng.normal(0, noise * 0.5, (2 * half, 2))
    return _points("spirals", "two spirals", x, np.repeat([0, 1], half), ["arm A", "arm B"])


def moons(n: int = POINTS, noise: float = 0.15) -> Dataset:
    rng = np.random.default_rng(SEED)
    half = n // 2
    a = rng.uniform(0, np.pi, half)
    b = rng.uniform(0, np.pi, half)
    upper = np.stack([np.cos(a), np.sin(a)], 1)
    lower = np.stack([1 - np.cos(b), 0.5 - np.sin(b)], 1)
    x = np.concatenate([upper, lower]) + rng.normal(0, noise, (2 * half, 2))
    return _points("moons", "two moons", x, np.repeat([0, 1], half), ["upper", "lower"])


def circles(n: int = POINTS, noise: float = 0.1) -> Dataset:
    rng = np.random.default_rng(SEED)
    half = n // 2
    angle = rng.uniform(0, 2 * np.pi, 2 * half)
    radius = np.concatenate([rng.uniform(0, 0.5, half), rng.uniform(0.7, 1.0, half)])
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1) + rng.normal(0, noise * 0.5, (2 * half, 2))
    return _points("circles", "circles", x * 5, np.repeat([0, 1], half), ["inner", "outer"])


def blobs(n: int = POINTS, classes: int = 4) -> Dataset:
    rng = np.random.default_rng(SEED)
    per = n // classes
    centres = np.array([[-2.5, -2.5], [2.5, 2.5], [-2.5, 2.5], [2.5, -2.5]])[:classes]
    x = np.concatenate([c + rng.normal(0, 1.0, (per, 2)) for c in centres])
    return _points("blobs", "gaussian blobs", x, np.repeat(np.arange(classes), per),
                   [f"blob {i + 1}" for i in range(classes)])


def xor(n: int = POINTS) -> Dataset:
    rng = np.random.default_rng(SEED)
    x = rng.uniform(-5, 5, (n, 2))
    x += np.sign(x) * 0.3  # a small margin around the axes
    y = ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(np.int64)
    return _points("xor", "XOR", x, y, ["same sign", "opposite signs"])


BUILTINS: dict[str, Callable[[], Dataset]] = {
    "digits": digits,
    "spirals": spirals,
    "moons": moons,
    "circles": circles,
    "blobs": blobs,
    "xor": xor,
}

TITLES = {"digits": "Digits (8x8 images)", "spirals": "Two spirals", "moons": "Moons", "circles": "Circles",
          "blobs": "Gaussian blobs", "xor": "XOR"}


def load_builtin(name: str) -> Dataset:
    return BUILTINS[name]()
