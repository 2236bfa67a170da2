"""The metric history as CSV: one row per stored bucket of each series.

A bucket covers steps first_step..last_step (one step each until the history fills,
then merged pairs, see `core.history`), with the exact min, max and mean of the values
logged in it and their count. Floats are written with `repr`, so reading the file back
gives the same numbers bit for bit.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.export.atomic import atomic_path

COLUMNS = ("series", "first_step", "last_step", "min", "max", "mean", "count")


def write_metrics_csv(history: MetricsHistory, path: str | os.PathLike, overwrite: bool = False) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for name in history.names:
                for row in history.rows(name):
                    writer.writerow((name, int(row["first_step"]), int(row["last_step"]), repr(float(row["min"])),
                                     repr(float(row["max"])), repr(float(row["mean"])), int(row["count"])))
    return Path(path)


def read_metrics_csv(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Series name -> structured array like `MetricsHistory.rows(name)`."""
    dtype = [("first_step", "i8"), ("last_step", "i8"), ("min", "f8"), ("max", "f8"), ("mean", "f8"),
             ("count", "i8")]
    rows: dict[str, list[tuple]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if tuple(header or ()) != COLUMNS:
            raise ValueError(f"{path}: not a gpuviz metrics CSV (header {header})")
        for rec in reader:
            name, first, last, mn, mx, mean, count = rec
            rows.setdefault(name, []).append((int(first), int(last), float(mn), float(mx), float(mean), int(count)))
    return {name: np.array(r, dtype=dtype) for name, r in rows.items()}
