"""What the weights probe hands to the display (torch-free: the tensors it carries are torch's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class WeightsPayload:
    """What the weights view reads; tensors are fresh, on the training device.

    `counts[s, c]` is column c's histogram of series s on the grid `grid[s, c]` =
    (first edge, bin width, 1 / largest count (0 if empty), total count) — the layout
    of the density texture's column info; `extent[s, c]` bounds of its values (min, max).
    Series s < L are weights, L + s gradients. `health[l, c]` holds the column means of
    (gradient norm, update-to-weight ratio, weight norm), `dead_steps[l, c]` how many of its
    steps had an all-zero gradient; `latest` (4, L) the same four for the last step (dead as
    0/1). `column_steps` (n, 2) the first and last step each column spans, `tracked` (n,)
    how many of them it holds (0 in a gap, where health is NaN). `matrices` (`MatrixImage`)
    and `filters` (`FilterGrid`) are keyed by layer index.
    """

    step: int
    layers: list[dict]
    column_steps: np.ndarray
    tracked: np.ndarray
    stride: int
    counts: Any
    grid: Any
    extent: Any
    health: Any
    dead_steps: Any
    latest: Any
    matrices: dict[int, Any]
    filters: dict[int, Any]

    @property
    def columns(self) -> int:
        return len(self.column_steps)
