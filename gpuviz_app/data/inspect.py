"""`gpuviz inspect`: what the loader finds, or one line saying why it refuses.

On a terminal (or with `--progress`) the load's progress goes to stderr, so a long read is
not silent and `--json` output on stdout stays clean.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Sequence, TextIO

from gpuviz_app.data.dataset import DatasetError
from gpuviz_app.data.open import load_dataset

CLASSES_SHOWN = 8  # a longer class list is summarised: the first few, how many more, the count range


class LoadProgress:
    """Progress lines on `stream`: one line rewritten in place on a terminal, else a line per tenth."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self._last_time = 0.0
        self._last_tenth = -1
        self._shown = False

    def __call__(self, fraction: float, message: str) -> None:
        line = f"loading {fraction:4.0%}  {self.label}  {message}".rstrip()
        if self.tty:
            now = time.monotonic()
            if now - self._last_time < 0.1 and fraction < 1.0:
                return
            self._last_time = now
            self.stream.write("\r" + line[:78].ljust(78))
        else:
            tenth = int(fraction * 10)
            if tenth == self._last_tenth:
                return
            self._last_tenth = tenth
            self.stream.write(line + "\n")
        self._shown = True
        self.stream.flush()

    def close(self) -> None:
        """Clear the in-place line, so what follows starts on a clean line."""
        if self.tty and self._shown:
            self.stream.write("\r" + " " * 78 + "\r")
            self.stream.flush()


def class_line(names: Sequence[object], counts: Sequence[int], shown: int = CLASSES_SHOWN) -> str:
    """'3  (a: 10, b: 12, c: 9)', or for many classes the first `shown`, how many more, and the
    smallest and largest class."""
    pairs = [f"{n}: {c}" for n, c in zip(names, counts)]
    if len(pairs) <= shown + 1:
        return f"{len(pairs)}  ({', '.join(pairs)})"
    low, high = min(counts), max(counts)
    return (f"{len(pairs)}  ({', '.join(pairs[:shown])}, … and {len(pairs) - shown} more; "
            f"{low}–{high} samples per class)")


def inspect_command(paths: Sequence[str], as_json: bool = False, progress: bool | None = None,
                    stream: TextIO | None = None) -> int:
    """`progress` None shows it when `stream` (default stderr) is a terminal."""
    stream = stream or sys.stderr
    show = stream.isatty() if progress is None else progress
    label = Path(paths[0]).name if len(paths) == 1 else f"{len(paths)} files"
    reporter = LoadProgress(stream, label) if show else None
    try:
        dataset = load_dataset(paths if len(paths) > 1 else paths[0], progress=reporter)
    except DatasetError as exc:
        if reporter:
            reporter.close()
        print(f"error: {exc.path}: {exc.reason}", file=sys.stderr)
        return 2
    if reporter:
        reporter.close()
    info = dataset.describe()
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['name']}  ({info['source']})")
    print(f"  samples   {info['samples']}")
    print(f"  shape     {tuple(info['shape'])}  {info['dtype']}  ({info['kind']})")
    print(f"  classes   {class_line(info['class_names'], info['class_counts'])}")
    print(f"  skipped   {info['skipped']}")
    for w in info["warnings"]:
        print(f"  warning   {w}")
    return 0
