"""One entry point from a user's PATH (or a built-in name) to a Dataset."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from gpuviz_app.data.builtin import BUILTINS, DEFAULT, load_builtin
from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats.context import CancelFn, LoadContext, LoadOptions, ProgressFn

BUILTIN_PREFIX = "builtin:"
Spec = str | Path | Sequence[str | Path] | None

log = logging.getLogger(__name__)


def spec_label(spec: Spec) -> str:
    """How a spec is named to the user (and in error messages)."""
    if spec is None:
        return f"{BUILTIN_PREFIX}{DEFAULT}"
    if isinstance(spec, (list, tuple)):
        return str(spec[0]) if len(spec) == 1 else " + ".join(str(p) for p in spec)
    return str(spec)


def load_dataset(spec: Spec = None, progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                 options: LoadOptions | None = None) -> Dataset:
    """Load `spec`: None for the default, `builtin:NAME`, a path, or several dropped paths.

    `progress(fraction, message)` is called as the load advances; `cancel()` is polled and,
    once it returns True, the load stops with LoadCancelled (a DatasetError). Anything
    unusable raises DatasetError with a one-sentence reason naming the file.
    """
    ctx = LoadContext(progress, cancel, options, path=spec_label(spec))
    try:
        return _load(spec, ctx)
    except DatasetError:
        raise
    except MemoryError:
        raise DatasetError(spec_label(spec), "does not fit in memory") from None
    except Exception as exc:  # noqa: BLE001 - never a traceback for a user's file; the log keeps it
        log.exception("unexpected error loading %s", spec_label(spec))
        raise DatasetError(spec_label(spec), f"could not be read ({type(exc).__name__}: {exc})") from None


def _load(spec: Spec, ctx: LoadContext) -> Dataset:
    if spec is None:
        return load_builtin(DEFAULT)
    if isinstance(spec, (list, tuple)):
        paths = [Path(p) for p in spec]
        if not paths:
            raise DatasetError("(nothing)", "no file was given")
        if len(paths) == 1:
            return _load(paths[0], ctx)
        from gpuviz_app.data.formats import load_paths

        return load_paths(paths, ctx)
    text = str(spec)
    if text.startswith(BUILTIN_PREFIX):
        name = text[len(BUILTIN_PREFIX):]
        if name not in BUILTINS:
            raise DatasetError(text, f"no built-in dataset named {name!r} (there are: {', '.join(BUILTINS)})")
        return load_builtin(name)
    from gpuviz_app.data.formats import load_path

    ctx.path = text
    return load_path(Path(text).expanduser(), ctx)
