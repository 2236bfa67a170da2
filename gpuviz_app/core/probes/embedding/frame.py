"""One projection of the embedding probe, as the display reads it (torch-free: the
tensors it carries are torch's, on the training device)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EmbeddingFrame:
    """One projection. Tensors are on the training device and never written again.

    `positions` (N, dims) float32; `labels` (N,) float32: class numbers for a classifier,
    the target (its first column) for regression, zeros without targets; `predicted` (N,)
    float32 the model's answer read the same way; `index` (N,) int64 rows of the run's
    inputs. `frame` grows with every new projection, `sample_id` when the sample (index,
    labels) changes, `epoch` when the projection was restarted (new layer, dimension or
    method: no transition from the previous frame).
    """

    frame: int
    step: int
    positions: Any
    labels: Any
    predicted: Any
    index: Any
    sample_id: int
    epoch: int
    dims: int
    layer: str
    features: int
    method: str
    classes: list[str]
    kind: str
    inputs: Any  # the raw inputs on the host (images in [0, 1]) for thumbnails, or None
    layers: tuple[str, ...] = ()
    status: str = ""
    bounds: Any = None  # (2, dims): lower and upper corners of `positions`

    def __len__(self) -> int:
        return int(self.positions.shape[0])
