"""What every loader shares: progress and cancel, options, memory checks, and safe reads."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from gpuviz_app.data.dataset import DatasetError

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

# A dataset may use at most this share of the memory that is free when it loads: training
# needs room for a normalised copy of it as well.
MEMORY_SHARE = 0.5


class LoadCancelled(DatasetError):
    """The user cancelled; not a fault of the input."""

    def __init__(self, path: object) -> None:
        super().__init__(path, "loading was cancelled")


@dataclass(frozen=True)
class LoadOptions:
    """Choices a user can make about how data is read."""

    image_max_side: int = 64           # image sets are resized so the longer side is at most this
    image_size: tuple[int, int] | None = None  # (height, width) to force one size instead
    max_classes: int = 1000


class LoadContext:
    """Carries the progress callback, the cancel check and the options through a load.

    `report(fraction, message)` may be called per item: it forwards at most every 0.5%
    (or on a new message) and raises LoadCancelled once `cancel()` says so. `phase(a, b)`
    gives a context whose 0..1 covers a..b of this one, for loads done in steps.
    """

    def __init__(self, progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                 options: LoadOptions | None = None, path: object = "") -> None:
        self.progress = progress
        self.cancel = cancel
        self.options = options or LoadOptions()
        self.path = path
        self.updates = 0
        self._root = self
        self._base, self._span = 0.0, 1.0
        self._last_fraction = -1.0
        self._last_message = ""
        self._last_check = 0.0

    def phase(self, start: float, end: float) -> "LoadContext":
        sub = LoadContext.__new__(LoadContext)
        sub.__dict__.update(self.__dict__)
        sub._base = self._base + start * self._span
        sub._span = (end - start) * self._span
        return sub

    def check(self) -> None:
        if self.cancel is not None and self.cancel():
            raise LoadCancelled(self.path)

    def report(self, fraction: float, message: str = "") -> None:
        self._root._emit(self._base + min(max(fraction, 0.0), 1.0) * self._span, message)

    def _emit(self, fraction: float, message: str) -> None:
        now = time.perf_counter()
        if now - self._last_check > 0.02 or fraction >= 1.0:
            self._last_check = now
            self.check()
        if self.progress is None:
            return
        if (fraction - self._last_fraction >= 0.005 or message != self._last_message
                or (fraction >= 1.0 > self._last_fraction)):
            self._last_fraction, self._last_message = fraction, message
            self.updates += 1
            self.progress(fraction, message)


def available_memory() -> int:
    """Bytes of memory free for new allocations (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 8 << 30


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def require_memory(path: object, nbytes: int, what: str = "its data") -> None:
    """Refuse, before allocating, anything that would not fit in memory."""
    free = available_memory()
    if nbytes > free * MEMORY_SHARE:
        raise DatasetError(path, f"{what} would need {human_bytes(nbytes)} of memory, more than gpuviz "
                                 f"can use of the {human_bytes(free)} free")


def read_head(path: Path, n: int = 512) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise DatasetError(path, f"could not be read ({exc.strerror or exc})") from None


def read_exact(path: object, f: BinaryIO, buffer: memoryview, ctx: LoadContext | None = None,
               what: str = "data", chunk: int = 1 << 20) -> None:
    """Fill `buffer` from `f` in chunks (reporting progress); refuse a file that ends early."""
    total = len(buffer)
    done = 0
    while done < total:
        n = f.readinto(buffer[done : done + chunk])
        if not n:
            raise DatasetError(path, f"is truncated: its header promises {total:,} bytes of {what}, "
                                     f"the file holds {done:,}")
        done += n
        if ctx is not None:
            ctx.report(done / total)
