"""The common table, read fast: UTF-8, one delimiter, every cell a number.

NumPy's C reader converts blocks of a few MB of lines at a time into a float32 array grown in
place (no list of Python strings per cell, no final concatenation), so memory stays close to
the array itself. Anything else — another encoding, text labels, comments, decimal commas,
ragged rows, a bad cell — returns None, and the exact reader in `table_exact` takes the file
and words any error with its line and column.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gpuviz_app.data.dataset import Dataset
from gpuviz_app.data.formats.arrays import build_dataset, encode_labels
from gpuviz_app.data.formats import table_exact as exact
from gpuviz_app.data.formats.context import LoadContext, require_memory

BLOCK_BYTES = 1 << 20


class GrownRows:
    """Rows appended into one float32 array that grows by half when full."""

    def __init__(self, rows: int, width: int) -> None:
        self.array = np.empty((max(rows, 1024), width), np.float32)
        self.n = 0

    def reserve(self, more: int) -> np.ndarray:
        """Room for `more` rows after the filled ones (the caller fills it, then adds to `n`)."""
        need = self.n + more
        if need > len(self.array):
            grown = np.empty((max(need, len(self.array) * 3 // 2), self.array.shape[1]), np.float32)
            grown[: self.n] = self.array[: self.n]
            self.array = grown
        return self.array[self.n : need]

    def append(self, block: np.ndarray) -> None:
        self.reserve(len(block))[...] = block
        self.n += len(block)

    def rows(self) -> np.ndarray:
        """The filled rows, the unused end given back in place (realloc shrinks without a copy);
        call once, with no view of the array alive."""
        if self.n < len(self.array):
            self.array.resize((self.n, self.array.shape[1]), refcheck=False)
        return self.array


def parse_numeric(path: Path, size: int, ctx: LoadContext,
                  collector: Callable[[int, int], Any] = GrownRows) -> Dataset | None:
    """The table as a Dataset when it is all numbers in UTF-8; None sends it to the exact reader.

    `collector(estimated_rows, width)` makes what receives the feature rows (`append(block)`,
    `n`, `rows()`); the default keeps them in a `GrownRows`."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if b"\x00" in head or b"#" in head or b"\r" in head.replace(b"\r\n", b""):
        return None
    try:
        sample = codecs.getincrementaldecoder("utf-8-sig")().decode(head)
    except UnicodeDecodeError:
        return None
    delimiter = exact.sniff_delimiter(sample, path.suffix.lower())
    if delimiter == ";":  # decimal commas are likely: the exact reader knows them
        return None
    lines = sample.split("\n")
    table = exact.TableLayout(path, delimiter)
    rows = list(exact.table_rows(iter(line + "\n" for line in lines[:3]), delimiter))
    if len(rows) < 2 or rows[0][0] != 1:
        return None
    header = exact.decide_header(table, rows[0][1], rows[1][1])
    line_bytes = max(1.0, len(head) / max(1, len(lines) - 1))  # the last line may be cut short
    features = collector(int(size / line_bytes * 1.02) + 1, len(table.features))
    labels: list[np.ndarray] = []
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    skip = 1 if header else 0
    rest = ""
    done = 0
    with open(path, "rb") as f:
        while True:
            raw = f.read(BLOCK_BYTES)
            try:
                text = rest + decoder.decode(raw, final=not raw)
            except UnicodeDecodeError:
                return None
            if raw:
                cut = text.rfind("\n") + 1
                text, rest = text[:cut], text[cut:]
            block_lines = text.split("\n")
            if skip:
                block_lines, skip = block_lines[skip:], 0
            block_lines = [ln for ln in block_lines if ln and ln != "\r"]
            if block_lines:
                try:  # every column, so a row of another width is refused here as by the exact reader
                    values = np.loadtxt(block_lines, delimiter=delimiter, dtype=np.float32, comments=None,
                                        quotechar='"', ndmin=2)
                except ValueError:
                    return None
                if values.shape[1] != len(table.columns) or not np.isfinite(values).all():
                    return None
                features.append(values[:, table.features])
                labels.append(values[:, table.label].copy())
            done += len(raw)
            ctx.report(0.9 * done / size, "reading numbers")
            if not raw:
                break
    if features.n == 0:
        return None
    label_values = np.concatenate(labels).astype(np.float64)
    if not np.all(label_values == np.round(label_values)) or np.abs(label_values).max() >= 1 << 24:
        return None  # not whole numbers (or beyond float32's integers): the exact reader says why
    x = features.rows()
    del features
    y, classes = encode_labels(path, label_values)
    ctx.report(1.0)
    return build_dataset(path, x, y, classes, "vectors", ctx, warnings=exact.table_warnings(table, header))


def load_table_here(path: Path, ctx: LoadContext) -> Dataset:
    """Numbers-only UTF-8 tables by NumPy's C reader, anything else by the exact reader."""
    size = path.stat().st_size
    require_memory(path, size * 2, "its table")  # a float32 per number of at least two characters
    fast = parse_numeric(path, size, ctx)
    if fast is not None:
        return fast
    return exact.load_table_exact(path, ctx)
