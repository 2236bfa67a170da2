"""A loaded dataset on the host, as every loader returns it, and the error they raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Kind = Literal["vectors", "images"]

EVAL_FRACTION = 0.2
MAX_EVAL = 10_000


def split_sizes(n: int, eval_fraction: float = EVAL_FRACTION, max_eval: int = MAX_EVAL) -> tuple[int, int]:
    """(train, eval) sample counts of the split training makes (shown before a dataset is switched to)."""
    n_eval = min(max(1, int(round(n * eval_fraction))), max_eval, n - 1) if n > 1 else 0
    return n - n_eval, n_eval


class DatasetError(Exception):
    """An input gpuviz refuses, with a one-sentence reason naming the file."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        # one line, whatever a library's message held
        self.reason = " ".join(str(reason).split()).rstrip(".")
        super().__init__(f"{self.path}: {self.reason}")


@dataclass
class Dataset:
    """Features and integer labels in host memory.

    `x` is float32 (N, *input_shape); images are (N, C, H, W) with values in [0, 1].
    `y` is int64 (N,) indexing `classes`.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    kind: Kind
    source: str = ""
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.x.dtype != np.float32:
            self.x = self.x.astype(np.float32)
        if self.y.dtype != np.int64:
            self.y = self.y.astype(np.int64)
        if len(self.x) != len(self.y):
            raise ValueError("x and y differ in length")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.y)

    def class_counts(self) -> list[int]:
        return np.bincount(self.y, minlength=len(self.classes)).tolist()

    def describe(self) -> dict:
        """A JSON-ready summary (what `gpuviz inspect` prints)."""
        return {
            "name": self.name,
            "source": self.source,
            "kind": self.kind,
            "samples": len(self),
            "classes": len(self.classes),
            "class_names": list(self.classes),
            "class_counts": self.class_counts(),
            "shape": list(self.input_shape),
            "dtype": str(self.x.dtype),
            "skipped": self.skipped,
            "warnings": list(self.warnings),
        }
