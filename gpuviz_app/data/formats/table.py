"""CSV and TSV tables: the common all-numbers table by NumPy's C reader, anything else exactly.

How a table is read (delimiter, header, label column, encodings, errors) is described in
`table_exact`; `table_fast` gives the same result faster for UTF-8 tables of numbers only. A
large table is parsed in a process of its own (`table_process`), so the caller's threads, a
window's included, keep the interpreter to themselves meanwhile.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats.context import LoadContext

# Tables at least this large are parsed in a process of their own.
PROCESS_BYTES = 8 << 20


def load_table(path: Path, ctx: LoadContext) -> Dataset:
    size = path.stat().st_size
    if size == 0:
        raise DatasetError(path, "is empty")
    if size >= PROCESS_BYTES and not getattr(sys, "frozen", False):
        from gpuviz_app.data.formats.table_process import load_in_process

        return load_in_process(path, ctx)
    from gpuviz_app.data.formats.table_fast import load_table_here

    return load_table_here(path, ctx)
