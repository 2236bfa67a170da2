"""Where the files shipped with gpuviz live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir() -> Path:
    """The folder holding icons and the embedded dataset."""
    installed = _PACKAGE / "resources"
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / "resources"


def resource(name: str) -> Path:
    path = resource_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"gpuviz resource {name!r} is missing from {resource_dir()}")
    return path
