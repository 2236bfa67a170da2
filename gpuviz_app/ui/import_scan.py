"""PySide6's check of every module imported after it, made to read bytes instead of source text.

Once PySide6 is imported, each new module is passed to `shibokensupport.feature`, which decides
whether the module may use PySide's `__feature__` options by searching its source for "PySide6"
(`inspect.getsource`: the file decoded, split into lines and kept in `linecache`). Torch's import
on the training thread brings in over a thousand modules after PySide6, so at start-up that check
held the interpreter lock the window needs for about a quarter of a second of CPU, and kept every
module's lines in memory. Searching the file's bytes gives the same answer for any source file
that spells "PySide6" in ASCII, which every encoding Python reads source in does.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Callable


def read_bytes_in_pyside_scan() -> bool:
    """Make PySide6's per-import source check read the file's bytes; False where PySide6 is not
    imported or its check is not the function this expects (nothing is changed then)."""
    feature = sys.modules.get("shibokensupport.feature")
    check = getattr(feature, "_mod_uses_pyside", None)
    if not callable(check):
        return False
    if getattr(check, "reads_bytes", False):
        return True
    feature._mod_uses_pyside = bytes_check(check)
    return True


def bytes_check(fallback: Callable[[ModuleType], bool]) -> Callable[[ModuleType], bool]:
    """Whether a module's source file mentions PySide6, read as bytes; `fallback` (PySide's own
    check) for modules that have no `.py` file or one that cannot be read."""

    def uses_pyside(module: ModuleType) -> bool:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            return fallback(module)
        try:
            with open(path, "rb") as source:
                return b"PySide6" in source.read()
        except OSError:
            return fallback(module)

    uses_pyside.reads_bytes = True  # type: ignore[attr-defined]
    return uses_pyside
