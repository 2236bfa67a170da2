"""What `gpuviz open PATH` and a drop on the window open: a stored run or a TensorBoard log.

A folder holding TensorBoard event files (`events.out.tfevents.*`, at any depth) is imported;
anything else is handed to the run store's reader, which says in one sentence why it is not a
run. The reader and the importer are imported only when used.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from gpuviz_app.store.frames import RunFrames

log = logging.getLogger(__name__)

EVENTS_PREFIX = "events.out.tfevents."
EVENTS_DEPTH = 3
TENSORBOARD, STORED = "tensorboard", "stored run"
READER, IMPORTER = "gpuviz_app.store.reader", "gpuviz_app.store.tensorboard"


class OpenError(ValueError):
    """`PATH: reason`, one sentence, for the command line and the window."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        path = os.fspath(path)
        for named in (f"{path}: ", f"{path} is "):  # the reason names the path already
            if reason.startswith(named):
                reason = reason[len(named):]
                break
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def has_event_files(folder: Path, depth: int = EVENTS_DEPTH) -> bool:
    """Whether `folder` or a folder up to `depth` levels under it holds a TensorBoard event file
    (a logdir holds one folder per run; a dataset's deep trees are not walked)."""
    for root, dirs, files in os.walk(folder):
        if any(name.startswith(EVENTS_PREFIX) for name in files):
            return True
        if len(Path(root).relative_to(folder).parts) >= depth:
            dirs.clear()
    return False


def kind_of(path: str | os.PathLike) -> str:
    """TENSORBOARD for a log directory (or one of its event files), STORED for anything else
    that exists; OpenError when nothing is there."""
    p = Path(path)
    if not p.exists():
        raise OpenError(path, "no such file or directory")
    if p.is_file():
        return TENSORBOARD if p.name.startswith(EVENTS_PREFIX) else STORED
    try:
        return TENSORBOARD if has_event_files(p) else STORED
    except OSError as exc:
        raise OpenError(path, exc.strerror or str(exc)) from None


def open_frames(path: str | os.PathLike) -> RunFrames:
    """The run at `path`, readable by step; OpenError (`PATH: reason`) for anything else."""
    kind = kind_of(path)
    if kind == TENSORBOARD:
        import_logdir = _module(path, IMPORTER, "TensorBoard logs").import_logdir
        logdir = Path(path) if Path(path).is_dir() else Path(path).parent
        return _opened(path, lambda: import_logdir(os.fspath(logdir)))
    open_run = _module(path, READER, "stored runs").open_run
    return _opened(path, lambda: open_run(os.fspath(path)))


def check_openable(path: str | os.PathLike) -> str:
    """Before a window opens: the kind of run at `path`, or OpenError. A stored run is opened
    (and let go); a log directory is only recognised, its import being the window's work."""
    kind = kind_of(path)
    if kind == TENSORBOARD:
        _module(path, IMPORTER, "TensorBoard logs")
        return kind
    run = open_frames(path)
    close = getattr(run, "close", None)
    if callable(close):
        close()
    return kind


def is_openable(path: str | os.PathLike) -> bool:
    """Whether a dropped path is a run or a TensorBoard log (else it is a dataset)."""
    try:
        check_openable(path)
    except OpenError:
        return False
    return True


def _module(path: str | os.PathLike, name: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            raise OpenError(path, f"cannot open {what} yet") from None
        raise OpenError(path, f"opening {what} needs the Python package {exc.name}, which is not installed") \
            from None


def _opened(path: str | os.PathLike, read) -> RunFrames:
    try:
        return read()
    except OpenError:
        raise
    except ModuleNotFoundError as exc:
        raise OpenError(path, f"reading it needs the Python package {exc.name}, which is not installed") from None
    except OSError as exc:
        raise OpenError(path, exc.strerror or str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - the reader's and importer's own errors are sentences
        log.debug("could not open %s", path, exc_info=True)
        raise OpenError(path, str(exc) or type(exc).__name__) from None
