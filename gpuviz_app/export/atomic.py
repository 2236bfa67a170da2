"""Files appear under their final name complete, or not at all.

Everything gpuviz writes (PNG, video, CSV) is written to a hidden temporary file in the
target's folder (`.name.PID.XXXX.part.ext`, same file system, so the final step is a rename)
and moved onto the target only once complete. A cancel or an exception removes the
temporary file; a crash (SIGKILL, power loss) can leave only that hidden `.part` file,
never a half-written file under the final name. The writer's process id is in the name, so
the next write to the same folder removes the `.part` files of processes that no longer
exist. An existing target is replaced only when the caller says the user allowed it.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator


# `.stem.PID.random.part.ext`, as AtomicFile names its temporaries
_PART_NAME = re.compile(r"^\..+\.(\d+)\.[a-z0-9_]{8}\.part(\.[^.]+)?$")


class OutputExists(Exception):
    """The target exists and the caller did not allow overwriting it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: already exists (choose another name, or allow overwriting)")
        self.path = path


class OutputNotWritable(OSError):
    """The target cannot be written; the message names the user's file, never the temporary."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: cannot be written ({reason})")
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return self.args[0]


def check_writable(target: str | os.PathLike, overwrite: bool) -> Path:
    """Fail early, before any work, when `target` exists and may not be replaced, or when its
    folder cannot take a new file (missing folders are made when writing, if their parent can)."""
    target = Path(target)
    if target.is_dir():
        raise OutputNotWritable(target, "it is a folder")
    if target.exists() and not overwrite:
        raise OutputExists(target)
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputNotWritable(target, f"{folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or _read_only(folder):
        raise OutputNotWritable(target, f"the folder {folder} is not writable")
    return target


def _read_only(folder: Path) -> bool:
    """A read-only mount refuses writes even to root, whom `os.access` always allows."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def check_outputs(paths: list[str | os.PathLike | None], overwrite: bool) -> None:
    """Every output of one command checked before any work: none may be named twice, each must be
    writable. Raises `OutputExists`, `OutputNotWritable` or `SameOutput`."""
    seen: dict[Path, Path] = {}
    for path in paths:
        if path:
            target = Path(path)
            key = target.resolve()
            if key in seen:
                raise SameOutput(seen[key], target)
            seen[key] = target
    for target in seen.values():
        check_writable(target, overwrite)


class SameOutput(ValueError):
    """Two outputs of one command name the same file: one would replace the other."""

    def __init__(self, first: Path, second: Path) -> None:
        same = str(first) if first == second else f"{first} and {second}"
        super().__init__(f"{same}: given as two outputs; choose a different file for each")
        self.path = second


def _named(target: Path, exc: OSError) -> OutputNotWritable:
    """`exc` as an error about the user's `target` (it may name the hidden temporary)."""
    return OutputNotWritable(target, exc.strerror or str(exc).replace(str(exc.filename), "").strip(" :'") or
                             type(exc).__name__)


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would, for a moment, for every thread)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _process_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_parts(folder: str | os.PathLike) -> list[Path]:
    """Remove the `.part` temporaries in `folder` left by writers that no longer run (killed,
    crashed); return what was removed. Files of running processes and other names are kept."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _PART_NAME.match(entry.name)
        if not match or _process_exists(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def name_write_error(target: str | os.PathLike, exc: OSError) -> OutputNotWritable:
    """A write error of a writer working on `target`'s temporary, as one about `target`."""
    return exc if isinstance(exc, OutputNotWritable) else _named(Path(target), exc)


class AtomicFile:
    """A temporary file beside `target` that becomes `target` on `commit()`.

    For writers that live longer than one block (a video being recorded); `atomic_path`
    is the context-manager form.
    """

    def __init__(self, target: str | os.PathLike, overwrite: bool = False) -> None:
        self.target = check_writable(target, overwrite)
        self.overwrite = overwrite
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_parts(self.target.parent)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.target.stem}.{os.getpid()}.", suffix=f".part{self.target.suffix}",
                                       dir=self.target.parent)
        except OSError as exc:
            raise _named(self.target, exc) from exc
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the final file gets the usual mode
        self.tmp = Path(tmp)
        self.done = False

    def commit(self) -> Path:
        """Move the temporary file onto the target. Without `overwrite`, a target that
        appeared in the meantime is not replaced (hard link: fails if the name exists)."""
        if self.done:
            return self.target
        try:
            if self.overwrite:
                os.replace(self.tmp, self.target)
            else:
                self._link_no_clobber()
        except OutputExists:
            self.discard()
            raise
        except OSError as exc:
            self.discard()
            raise _named(self.target, exc) from exc
        except BaseException:
            self.discard()
            raise
        self.done = True
        return self.target

    def _link_no_clobber(self) -> None:
        try:
            os.link(self.tmp, self.target)
        except FileExistsError:
            raise OutputExists(self.target) from None
        except OSError:  # no hard links on this file system: check, then rename
            if self.target.exists():
                raise OutputExists(self.target) from None
            os.replace(self.tmp, self.target)
            return
        self.tmp.unlink()

    def discard(self) -> None:
        """Remove the temporary file; the target is left as it was."""
        self.done = True
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only on success.

    On an exception (a cancel, a failed encode) the temporary file is removed and the
    target is untouched.
    """
    file = AtomicFile(target, overwrite)
    try:
        yield file.tmp
    except OutputNotWritable:
        file.discard()
        raise
    except OSError as exc:
        file.discard()
        if exc.filename not in (None, str(file.tmp), file.tmp):
            raise  # about another file than this one
        raise _named(file.target, exc) from exc
    except BaseException:
        file.discard()
        raise
    file.commit()
