"""Decimated series as vertices, and the choice of the loss axis."""

from __future__ import annotations

import math

import numpy as np

from gpuviz_app.core.history import Decimated
from gpuviz_app.render.plot import nice_ceil

SPIKE = 50.0  # a loss this many times its typical column maximum is a spike
SPAN = 1000.0  # ... and so is one spanning this many times its low values (three decades)


def envelope(d: Decimated) -> np.ndarray:
    """Vertices tracing each column's min then max, so the strip covers every extreme."""
    xy = np.empty((2 * len(d), 2), np.float32)
    xy[0::2, 0] = d.x
    xy[1::2, 0] = d.x
    xy[0::2, 1] = d.ymin
    xy[1::2, 1] = d.ymax
    return xy


def band(parts: list[Decimated], lo: float, hi: float, columns: int) -> Decimated:
    """Each pixel column's min and max over all of `parts` (series decimated over the same
    steps [lo, hi] and `columns`): the envelope of many series in one strip."""
    width = max(hi - lo, 1e-9)
    ymin, ymax = np.full(columns, np.nan), np.full(columns, np.nan)
    x = np.full(columns, np.nan)
    for d in parts:
        col = np.clip(((d.x - lo) / width * columns).astype(np.int64), 0, columns - 1)
        np.fmin.at(ymin, col, d.ymin)
        np.fmax.at(ymax, col, d.ymax)
        np.fmin.at(x, col, d.x)
    seen = ~np.isnan(x)
    return Decimated(x[seen], ymin[seen], ymax[seen])


def percentile(values: np.ndarray, q: float) -> float:
    """`np.percentile(values, q)` (linear interpolation) without its first call's import of
    numpy.ma, which would fall on the launch's first trained frame."""
    ordered = np.sort(values, axis=None)
    position = (len(ordered) - 1) * q / 100.0
    below = int(math.floor(position))
    above = min(below + 1, len(ordered) - 1)
    return float(ordered[below] + (ordered[above] - ordered[below]) * (position - below))


def loss_scale(mode: str, d: Decimated) -> tuple[str, float]:
    """The loss axis ("linear", "log" or "clipped") and the clip value for `mode`.

    "auto" is linear until a spike (a column maximum `SPIKE` times the typical one, or
    values spanning `SPAN` times their low end), then log, or clipped where values reach 0.
    """
    top = d.ymax[np.isfinite(d.ymax)]
    low = d.ymin[np.isfinite(d.ymin)]
    if mode == "linear" or not len(top):
        return "linear", math.inf
    clip = nice_ceil(2.0 * percentile(top, 90))
    positive = bool(len(low)) and float(low.min()) > 0
    if mode == "log":
        return ("log", math.inf) if positive else ("clipped", clip)
    if mode == "clipped":
        return "clipped", clip
    peak, typical = float(top.max()), percentile(top, 50)
    floor = percentile(low, 5) if len(low) else 0.0
    spike = peak > SPIKE * typical or (floor > 0 and peak > SPAN * floor)
    if not spike:
        return "linear", math.inf
    return ("log", math.inf) if positive else ("clipped", clip)
