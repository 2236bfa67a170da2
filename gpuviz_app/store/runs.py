"""The runs browser's list: one summary per stored run, read from its last records only."""

from __future__ import annotations

import logging
import os
import sqlite3

from gpuviz_app.core.payload_tree import BadPayload
from gpuviz_app.store import codec
from gpuviz_app.store.frames import RunSummary
from gpuviz_app.store.layout import STORE_FILE, read_meta, run_dirs
from gpuviz_app.store.writer import store_size

log = logging.getLogger(__name__)
_LOSS_LOOKBACK = 256  # rows records searched from the end for the last training loss


def list_runs(root: str | None = None) -> list[RunSummary]:
    """Every run under `root` (the runs directory by default), oldest first; checksums are checked
    when a run is opened, not here, so a damaged run is listed with what its meta says."""
    return [run_summary(run) for run in run_dirs(root)]


def run_summary(run: str) -> RunSummary:
    meta = read_meta(run)
    path = os.path.join(run, STORE_FILE)
    fields = {"name": str(meta.get("name") or os.path.basename(run)), "dataset": str(meta.get("dataset", "")),
              "model": str(meta.get("model", "")), "started": _number(meta.get("started")),
              "size_bytes": store_size(path), "path": run}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.execute("PRAGMA writable_schema=ON")  # (read-only: lets a truncated store be listed)
        try:
            if db.execute("PRAGMA application_id").fetchone()[0] == codec.APPLICATION_ID:
                fields |= _from_store(db)
        finally:
            db.close()
    except (sqlite3.DatabaseError, BadPayload) as exc:
        log.warning("runs: %s cannot be summarised (%s)", run, exc)
    return RunSummary(**fields)


def _from_store(db: sqlite3.Connection) -> dict:
    out: dict = {}
    last = db.execute("SELECT step, header FROM records WHERE kind = ? ORDER BY id DESC LIMIT 1", (codec.FRAME,)).fetchone()
    if last is not None:
        out["steps"] = int(last[0])
        scalars = codec.parse_header(last[1])
        for key in ("dataset", "model"):
            if scalars.get(key):
                out[key] = str(scalars[key])
    query = "SELECT header, data FROM records WHERE kind = ? ORDER BY id DESC LIMIT ?"
    for header, data in db.execute(query, (codec.ROWS, _LOSS_LOOKBACK)):
        rows = codec.decode_rows(codec.parse_header(header), data).get("train_loss")
        if rows is not None and len(rows[1]):
            out["final_loss"] = float(rows[1][-1])
            break
    return out


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
