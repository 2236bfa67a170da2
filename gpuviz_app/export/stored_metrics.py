"""A stored run's metrics as CSV or Parquet (`gpuviz export`), after the fact.

Both files have the columns of the window's metrics CSV (`metrics_csv.COLUMNS`). A stored run
keeps every logged value, so each row is one value: its step as first and last step, the value
as min, max and mean, and a count of 1; read back, the numbers are those stored, bit for bit
(CSV writes floats with `repr`, Parquet as float64). A run whose rows cannot be read one by one
gives the buckets of its metrics history at the last step instead. Parquet needs pyarrow (the
`parquet` extra), imported only when a Parquet file is asked for.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gpuviz_app.export.atomic import OutputExists, atomic_path, check_writable
from gpuviz_app.export.metrics_csv import COLUMNS, write_buckets_csv
from gpuviz_app.export.record_options import StepRange

FORMATS = (".csv", ".parquet")
PARQUET_HINT = "pip install 'gpuviz-app[parquet]'"
_BUCKET = [("first_step", "i8"), ("last_step", "i8"), ("min", "f8"), ("max", "f8"), ("mean", "f8"), ("count", "i8")]


class MetricsFormatError(ValueError):
    """An output file of a type this export does not write."""


def metrics_format(path: str | os.PathLike) -> str:
    """'.csv' or '.parquet'; MetricsFormatError naming the file otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise MetricsFormatError(f"{path}: unsupported metrics file type {suffix or '(none)'!r}; use .csv or .parquet")
    return suffix


def export_problem(path: str | os.PathLike, overwrite: bool = False, force_flag: str = "--force") -> str | None:
    """Why the metrics cannot be written to `path`, in one sentence, or None (checked before reading the run)."""
    try:
        if metrics_format(path) == ".parquet":
            _pyarrow(path)
        check_writable(path, overwrite)
    except OutputExists as exc:
        return f"{exc.path}: already exists (use {force_flag} to overwrite)"
    except (MetricsFormatError, OSError) as exc:
        return str(exc)
    return None


def metric_buckets(frames: Any, steps: StepRange = (None, None)) -> list[tuple[str, np.ndarray]]:
    """(series name, rows structured like `MetricsHistory.rows`) of every series, limited to `steps`."""
    first, last = steps
    rows = getattr(frames, "rows", None)
    rows = rows() if callable(rows) else rows
    if isinstance(rows, dict):
        series = [(name, _one_per_row(r)) for name, r in rows.items()]
    else:  # another RunFrames: its history's buckets
        stored = frames.steps()
        metrics = frames.snapshot_at(int(stored[-1])).metrics if len(stored) else None
        series = [(name, metrics.rows(name)) for name in metrics.names] if metrics is not None else []
    out = []
    for name, buckets in series:
        keep = np.ones(len(buckets), bool)
        if first is not None:
            keep &= buckets["first_step"] >= first
        if last is not None:
            keep &= buckets["last_step"] <= last
        if keep.any():
            out.append((name, buckets[keep]))
    return out


def _one_per_row(rows: np.ndarray) -> np.ndarray:
    """(n, 2) rows of step, value as n buckets of one value each."""
    out = np.zeros(len(rows), dtype=_BUCKET)
    out["first_step"] = out["last_step"] = rows[:, 0].astype(np.int64)
    out["min"] = out["max"] = out["mean"] = rows[:, 1]
    out["count"] = 1
    return out


def write_stored_metrics(frames: Any, path: str | os.PathLike, steps: StepRange = (None, None),
                         overwrite: bool = False) -> Path:
    """Write `frames`' metrics in `steps` to `path` (.csv or .parquet), atomically."""
    series = metric_buckets(frames, steps)
    if metrics_format(path) == ".csv":
        return write_buckets_csv(series, path, overwrite)
    return write_parquet(series, path, overwrite, _metadata(frames))


def write_parquet(series: list[tuple[str, np.ndarray]], path: str | os.PathLike, overwrite: bool = False,
                  metadata: dict[str, str] | None = None) -> Path:
    pa = _pyarrow(path)
    import pyarrow.parquet as pq

    names = [name for name, buckets in series for _ in range(len(buckets))]
    joined = np.concatenate([b for _, b in series]) if series else np.zeros(0, dtype=_BUCKET)
    columns = [pa.array(names, pa.string())] + [pa.array(joined[c]) for c in COLUMNS[1:]]
    table = pa.Table.from_arrays(columns, names=list(COLUMNS))
    table = table.replace_schema_metadata({f"gpuviz:{k}": v for k, v in (metadata or {}).items()})
    with atomic_path(path, overwrite=overwrite) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def _pyarrow(path: str | os.PathLike) -> Any:
    try:
        import pyarrow
    except ImportError:
        raise MetricsFormatError(f"{path}: writing Parquet needs the Python package pyarrow, which is not "
                                 f"installed ({PARQUET_HINT})") from None
    return pyarrow


def _metadata(frames: Any) -> dict[str, str]:
    summary = frames.summary
    return {"run": summary.name, "dataset": summary.dataset, "model": summary.model}


def export_metrics(run: str, out: str, steps: StepRange = (None, None), overwrite: bool = False) -> int:
    """`gpuviz export`: exit status 0 written, 2 refused (one `error:` line on stderr), 130 cancelled."""
    problem = export_problem(out, overwrite)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from gpuviz_app.store.open import OpenError, open_frames

    try:
        frames = open_frames(run)
    except OpenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        for warning in getattr(frames, "warnings", ()):
            print(f"warning: {warning}", file=sys.stderr)
        series = metric_buckets(frames, steps)
        if metrics_format(out) == ".csv":
            written = write_buckets_csv(series, out, overwrite)
        else:
            written = write_parquet(series, out, overwrite, _metadata(frames))
    except (OSError, OutputExists, MetricsFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ncancelled: nothing was written", file=sys.stderr)
        return 130
    finally:
        close = getattr(frames, "close", None)
        if callable(close):
            close()
    rows = sum(len(b) for _, b in series)
    print(f"wrote {written} ({rows} rows of {len(series)} series)", file=sys.stderr)
    return 0
