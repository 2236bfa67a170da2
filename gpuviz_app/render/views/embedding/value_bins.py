"""Colouring a regression run's embedding: target values binned into ranges, shown like classes.

A run without classes carries the target value (or zeros) in `labels` and the first output in
`predicted`; the view's points colour by palette index, so both are cut into `BINS` ranges holding
as many of the sample's targets each (a few outliers do not squeeze the rest into one colour),
named by their bounds, and coloured by a sequential ramp.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from gpuviz_app.render.colormaps import SEQUENTIAL, apply
from gpuviz_app.render.upload import as_numpy

BINS = 12


def value_bin_colors(n: int = BINS) -> np.ndarray:
    """(n, 4) uint8: low values dark, high values bright."""
    out = np.full((n, 4), 255, np.uint8)
    out[:, :3] = np.rint(apply(SEQUENTIAL, np.linspace(0.15, 1.0, n)) * 255)
    return out


def _like(template: Any, array: np.ndarray) -> Any:
    """`array` as the same kind of array as `template` (a tensor stays on its device)."""
    return template.new_tensor(array).float() if hasattr(template, "new_tensor") else array


def with_value_bins(frame: Any) -> Any:
    """`frame` unchanged when it has classes; else its labels and predictions as bin numbers."""
    if frame.classes:
        return frame
    values = as_numpy(frame.labels).astype(np.float64)
    finite = values[np.isfinite(values)]
    if not len(finite):
        finite = np.zeros(1)
    edges = np.quantile(finite, np.linspace(0.0, 1.0, BINS + 1))

    def binned(v: np.ndarray) -> np.ndarray:
        v = np.nan_to_num(np.asarray(v, np.float64), nan=edges[0])
        return np.clip(np.searchsorted(edges[1:-1], v, side="right"), 0, BINS - 1).astype(np.float32)

    names = [f"{edges[i]:.3g} to {edges[i + 1]:.3g}" for i in range(BINS)]
    return replace(frame, labels=_like(frame.labels, binned(values)),
                   predicted=_like(frame.predicted, binned(as_numpy(frame.predicted))), classes=names)
