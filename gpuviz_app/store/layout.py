"""Where runs are kept: one directory per run under the runs directory, deleted runs in its trash.

A run directory holds `run.sqlite` (the store, with its `-wal` and `-shm` while it is written)
and `meta.json` (name, dataset, model, started), written when the run is created. The runs
directory is `$GPUVIZ_RUNS` when set (the `--runs DIR` option sets it), else
`gpuviz/runs` under the user's data directory ($XDG_DATA_HOME, by default ~/.local/share).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from typing import Any

STORE_FILE = "run.sqlite"
META_FILE = "meta.json"
TRASH = ".trash"
RUNS_ENV = "GPUVIZ_RUNS"


def runs_dir() -> str:
    """The directory runs are kept in (not created here)."""
    chosen = os.environ.get(RUNS_ENV, "")
    if chosen:
        return os.path.abspath(os.path.expanduser(chosen))
    data = os.environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(data):
        data = os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "gpuviz", "runs")


def new_run_dir(name: str, dataset: str = "", model: str = "", root: str | None = None,
                started: float | None = None) -> str:
    """A fresh directory for a run named `name`, with its meta written; its path."""
    root = root or runs_dir()
    started = time.time() if started is None else started
    os.makedirs(root, exist_ok=True)
    stem = time.strftime("%Y%m%d-%H%M%S", time.localtime(started)) + "-" + (_slug(name) or "run")
    path, n = os.path.join(root, stem), 1
    while True:
        try:
            os.mkdir(path)
            break
        except FileExistsError:
            n += 1
            path = os.path.join(root, f"{stem}-{n}")
    write_meta(path, {"name": name, "dataset": dataset, "model": model, "started": started})
    return path


def write_meta(run: str, meta: dict[str, Any]) -> None:
    temporary = os.path.join(run, META_FILE + ".tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(meta, f)
    os.replace(temporary, os.path.join(run, META_FILE))


def read_meta(run: str) -> dict[str, Any]:
    """The run's meta, or {} when it is missing or unreadable (the store still says most of it)."""
    try:
        with open(os.path.join(run, META_FILE), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def rename_run(run: str, name: str) -> None:
    """Give the run a new display name (its directory keeps its own)."""
    write_meta(run, read_meta(run) | {"name": name})


def run_dirs(root: str | None = None) -> list[str]:
    """The run directories under `root` (the runs directory), oldest first."""
    root = root or runs_dir()
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [os.path.join(root, n) for n in names
            if n != TRASH and os.path.isfile(os.path.join(root, n, STORE_FILE))]


def delete_run(run: str) -> str:
    """Move a run to the trash inside its runs directory; the path to give `restore_run`."""
    run = os.path.abspath(run)
    trash = os.path.join(os.path.dirname(run), TRASH)
    os.makedirs(trash, exist_ok=True)
    target = os.path.join(trash, os.path.basename(run))
    n = 1
    while os.path.exists(target):
        n += 1
        target = os.path.join(trash, f"{os.path.basename(run)}-{n}")
    shutil.move(run, target)
    return target


def restore_run(trashed: str) -> str:
    """Undo `delete_run`: move the run back beside the trash; its path."""
    trashed = os.path.abspath(trashed)
    root = os.path.dirname(os.path.dirname(trashed))
    name = os.path.basename(trashed)
    target, n = os.path.join(root, name), 1
    while os.path.exists(target):
        n += 1
        target = os.path.join(root, f"{name}-{n}")
    shutil.move(trashed, target)
    return target


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60]
