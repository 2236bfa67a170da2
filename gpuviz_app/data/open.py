"""One entry point from a user's PATH (or a built-in name) to a Dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from gpuviz_app.data.builtin import BUILTINS, DEFAULT, load_builtin
from gpuviz_app.data.dataset import Dataset, DatasetError

BUILTIN_PREFIX = "builtin:"


def load_dataset(spec: str | Path | Sequence[str | Path] | None = None) -> Dataset:
    """Load `spec`: None for the default, `builtin:NAME`, a path, or several dropped paths.

    Raises DatasetError with a one-sentence reason for anything unusable.
    """
    if spec is None:
        return load_builtin(DEFAULT)
    if isinstance(spec, (list, tuple)):
        paths = [Path(p) for p in spec]
        if len(paths) == 1:
            return load_dataset(paths[0])
        from gpuviz_app.data.formats import load_paths

        return load_paths(paths)
    text = str(spec)
    if text.startswith(BUILTIN_PREFIX):
        name = text[len(BUILTIN_PREFIX):]
        if name not in BUILTINS:
            raise DatasetError(text, f"no built-in dataset named {name!r} (there are: {', '.join(BUILTINS)})")
        return load_builtin(name)
    from gpuviz_app.data.formats import load_path

    return load_path(Path(text))
