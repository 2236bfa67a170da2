"""Files appear under their final name complete, or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


class OutputExists(Exception):
    """The target exists and the caller did not allow overwriting it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: already exists (choose another name, or allow overwriting)")
        self.path = path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only on success.

    On an exception (a cancel, a failed encode) the temporary file is removed and the
    target is untouched. A crash can leave only a hidden `.target.*.part` file behind.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise OutputExists(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
