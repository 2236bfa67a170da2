"""Reading an exported metrics CSV back, to check the export row for row."""

from __future__ import annotations

import csv
import os

import numpy as np

from gpuviz_app.export.metrics_csv import COLUMNS


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
