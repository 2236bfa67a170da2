"""What the weights probe hands to the display (torch-free: the tensors it carries are torch's,
or numpy arrays when the payload came from another process)."""

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


@dataclass
class MatrixImage:
    """A linear layer's weight (rows = outputs, columns = inputs), pooled to fit MAX_SIDE.

    `block` is how many weights each texel stands for (rows, columns); a pooled texel
    holds the block's value of largest magnitude, so extremes stay visible.
    """

    values: Any  # (rows, cols) float32
    absmax: Any  # 0-dim float32
    block: tuple[int, int]
    shape: tuple[int, int]  # of the full matrix
    # The largest absmax of this layer's pictures so far in the run (0-dim float32; None: absmax):
    # the colour range, steady while training and carried with the step, so a replay shows it too.
    range_max: Any = None


@dataclass
class FilterGrid:
    per_filter: Any  # (H, W, 4) uint8
    shared: Any  # (H, W, 4) uint8
    tile: tuple[int, int]  # kernel height, width (pixels per tile, without the gap)
    grid: tuple[int, int]  # tiles down, across
    colour: bool
    shown: tuple[int, int]  # output filters, input channels shown
    total: tuple[int, int]
    values: Any  # the weights shown, (shown filters, channels, kh, kw) float32
