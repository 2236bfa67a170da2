"""Finding the point under the pointer on the CPU: a uniform grid over screen positions.

Rendering point IDs would cost a full extra draw of millions of points per query; the
grid is built once per (frame, camera) in O(N log N) and answers each query by looking
at the nine cells around the pointer.
"""

from __future__ import annotations

import numpy as np


class ScreenGrid:
    """Points (N, 2) in pixels, bucketed in square cells of `cell` pixels."""

    def __init__(self, xy: np.ndarray, cell: float = 8.0, ids: np.ndarray | None = None) -> None:
        xy = np.asarray(xy, np.float64)
        keep = np.all(np.isfinite(xy), axis=1)
        self.ids = np.flatnonzero(keep) if ids is None else np.asarray(ids)[keep]
        self.xy = xy[keep]
        self.cell = float(cell)
        cells = np.floor(self.xy / self.cell).astype(np.int64)
        self._keys_of_points = self._key(cells[:, 0], cells[:, 1])
        self.order = np.argsort(self._keys_of_points, kind="stable")
        self.keys = self._keys_of_points[self.order]

    @staticmethod
    def _key(i: np.ndarray | int, j: np.ndarray | int) -> np.ndarray | int:
        return (np.asarray(i, np.int64) + (1 << 20)) * (1 << 21) + (np.asarray(j, np.int64) + (1 << 20))

    def candidates(self, x: float, y: float) -> np.ndarray:
        """Positions (into `xy`) of the points in the 3 x 3 cells around (x, y)."""
        ci, cj = int(np.floor(x / self.cell)), int(np.floor(y / self.cell))
        found = []
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                key = self._key(ci + di, cj + dj)
                lo = np.searchsorted(self.keys, key, side="left")
                hi = np.searchsorted(self.keys, key, side="right")
                if hi > lo:
                    found.append(self.order[lo:hi])
        return np.concatenate(found) if found else np.empty(0, np.int64)

    def nearest(self, x: float, y: float, radius: float | None = None) -> int | None:
        """The id of the point nearest (x, y) within `radius` (default: one cell), or None."""
        radius = self.cell if radius is None else min(radius, self.cell)
        near = self.candidates(x, y)
        if len(near) == 0:
            return None
        d2 = np.sum((self.xy[near] - (x, y)) ** 2, axis=1)
        best = int(np.argmin(d2))
        if d2[best] > radius * radius:
            return None
        return int(self.ids[near[best]])


def to_screen(transform, positions: np.ndarray) -> np.ndarray:
    """Canvas pixel coordinates (N, 2) of `positions` (N, 2|3) through a VisPy transform."""
    mapped = np.asarray(transform.map(positions), np.float64)
    w = mapped[:, 3:4]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = mapped[:, :2] / np.where(w <= 0, np.nan, w)  # behind the camera: never picked
    return xy
