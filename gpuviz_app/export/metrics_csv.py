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
from typing import Iterable

import numpy as np

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.export.atomic import atomic_path

COLUMNS = ("series", "first_step", "last_step", "min", "max", "mean", "count")


def write_metrics_csv(history: MetricsHistory, path: str | os.PathLike, overwrite: bool = False) -> Path:
    return write_buckets_csv(((name, history.rows(name)) for name in history.names), path, overwrite)


def write_buckets_csv(series: Iterable[tuple[str, np.ndarray]], path: str | os.PathLike,
                      overwrite: bool = False) -> Path:
    """Each (name, buckets) pair's buckets, structured like `MetricsHistory.rows(name)`, as CSV rows."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for name, buckets in series:
                for row in buckets:
                    writer.writerow((name, int(row["first_step"]), int(row["last_step"]), repr(float(row["min"])),
                                     repr(float(row["max"])), repr(float(row["mean"])), int(row["count"])))
    return Path(path)
