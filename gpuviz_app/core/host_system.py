"""Facts about the machine that decide which GPU paths can work (torch-free)."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def is_wsl() -> bool:
    """Windows' Linux subsystem: neither CUDA–OpenGL interop nor CUDA IPC work there."""
    try:
        with open("/proc/version") as f:
            return "microsoft" in f.read().lower()
    except OSError:
        return False
