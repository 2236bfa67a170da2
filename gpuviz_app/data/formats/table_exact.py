"""CSV and TSV tables read exactly: delimiter sniffed, header detected, one column of labels.

The label column is the one whose header is label/class/target/y/species (any case, plurals
too), else the last. Text is read as UTF-8, falling back to Windows-1252 and then Latin-1,
the encodings spreadsheet programs save in. A semicolon-separated file may use decimal commas.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats.arrays import build_dataset, encode_labels
from gpuviz_app.data.formats.context import LoadContext, require_memory

LABEL_NAMES = ("label", "labels", "class", "classes", "target", "targets", "y", "species")
ID_NAMES = ("id", "index", "")
ENCODINGS = (("utf-8-sig", ""), ("cp1252", "Windows-1252"), ("latin-1", "Latin-1"))
DELIMITERS = ("\t", ";", ",", "|")
_CHUNK_ROWS = 8192
_QUOTED = re.compile(r'"[^"]*"')

csv.field_size_limit(1 << 24)


def load_table_exact(path: Path, ctx: LoadContext) -> Dataset:
    """Any table this module describes, each error worded with its line and column."""
    size = path.stat().st_size
    require_memory(path, size * 4, "its table")
    for encoding, label in ENCODINGS:
        try:
            data = _parse(path, encoding, size, ctx)
        except UnicodeDecodeError:
            continue
        if label:
            data.warnings.append(f"the text was read as {label} (it is not valid UTF-8)")
        return data
    raise DatasetError(path, "is not readable text")  # latin-1 decodes any bytes, so this is not reached


def sniff_delimiter(sample: str, suffix: str) -> str | None:
    """The delimiter found the same number of times on (nearly) every line; None means whitespace."""
    lines = [ln for ln in sample.splitlines() if ln.strip() and not ln.lstrip().startswith("#")][:50]
    if not lines:
        return ","
    stripped = [_QUOTED.sub("", ln) for ln in lines]
    order = ("\t",) + DELIMITERS if suffix in (".tsv", ".tab") else DELIMITERS
    for d in order:
        counts = [ln.count(d) for ln in stripped]
        common = max(set(counts), key=counts.count)
        if common > 0 and counts.count(common) >= 0.9 * len(counts):
            return d
    widths = [len(ln.split()) for ln in lines]
    if min(widths) > 1 and len(set(widths)) == 1:
        return None
    for d in order:
        if any(d in ln for ln in stripped):
            return d
    return ","


def _is_number(text: str, decimal_comma: bool = False) -> bool:
    try:
        float(text.replace(",", ".") if decimal_comma else text)
    except ValueError:
        return False
    return True


def table_rows(f: io.TextIOBase, delimiter: str | None):
    """(line number, fields) for each non-blank, non-comment row."""
    if delimiter is None:
        for number, line in enumerate(f, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                yield number, line.split()
        return
    reader = csv.reader(f, delimiter=delimiter, skipinitialspace=True)
    for row in reader:
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        yield reader.line_num, [c.strip() for c in row]


class TableLayout:
    def __init__(self, path: Path, delimiter: str | None) -> None:
        self.path = path
        self.delimiter = delimiter
        self.columns: list[str] = []
        self.label = -1
        self.features: list[int] = []
        self.decimal_comma = False


def _parse(path: Path, encoding: str, size: int, ctx: LoadContext) -> Dataset:
    raw = open(path, "rb", buffering=0)
    try:
        text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding=encoding, newline="")
        sample = text.read(1 << 16)
        text.seek(0)
        if "\x00" in sample:
            raise DatasetError(path, "holds binary data, not text")
        table = TableLayout(path, sniff_delimiter(sample, path.suffix.lower()))
        blocks: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        chunk: list[list[str]] = []
        lines: list[int] = []
        rows = table_rows(text, table.delimiter)
        try:
            first = next(rows, None)
            if first is None:
                raise DatasetError(path, "holds no rows")
            second = next(rows, None)
            header = decide_header(table, first[1], second[1] if second else None)
            pending = ([] if header else [first]) + ([second] if second else [])
            for number, row in _chain(pending, rows):
                if len(row) != len(table.columns):
                    row = _trim(row, len(table.columns))
                    if len(row) != len(table.columns):
                        raise DatasetError(path, f"has a ragged row: line {number} has {len(row)} fields where "
                                                 f"the first row has {len(table.columns)}")
                chunk.append(row)
                lines.append(number)
                if len(chunk) >= _CHUNK_ROWS:
                    _convert(table, chunk, lines, blocks, labels)
                    chunk, lines = [], []
                    ctx.report(0.9 * raw.tell() / size, "reading rows")
        except csv.Error as exc:
            raise DatasetError(path, f"is not a well-formed table ({exc})") from None
        if chunk:
            _convert(table, chunk, lines, blocks, labels)
    finally:
        raw.close()
    if not blocks:
        raise DatasetError(path, "holds a header but no rows of data")
    x = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    label_text = np.concatenate(labels)
    y, classes = _labels(table, label_text)
    ctx.report(1.0)
    return build_dataset(path, x, y, classes, "vectors", ctx, warnings=table_warnings(table, header))


def table_warnings(table: "TableLayout", header: bool) -> list[str]:
    """What the user should know about how the columns were read."""
    warnings = []
    if table.decimal_comma:
        warnings.append("numbers were read with decimal commas")
    dropped = [c for i, c in enumerate(table.columns) if i != table.label and i not in table.features]
    if dropped:
        warnings.append(f"the identifier column {', '.join(repr(c) for c in dropped)} was not used as a feature")
    if header and table.columns[table.label].strip().lower() not in LABEL_NAMES:
        warnings.append(f"no column is named label, class, target, y or species, so the last one "
                        f"({table.columns[table.label]!r}) holds the labels")
    return warnings


def _chain(first, rest):
    yield from first
    yield from rest


def _trim(row: list[str], width: int) -> list[str]:
    """Trailing delimiters (empty last fields) are tolerated."""
    while len(row) > width and not row[-1]:
        row = row[:-1]
    return row


def decide_header(table: TableLayout, first: list[str], second: list[str] | None) -> bool:
    """A first row with more non-numbers than the second is a header; then choose the columns."""
    first = _trim(first, 1)
    comma = table.delimiter == ";"
    non1 = sum(not _is_number(c, comma) for c in first)
    non2 = sum(not _is_number(c, comma) for c in second) if second else 0
    # a row of text over rows of text (text features) is a header when it names a label or id column
    names_a_column = non1 == len(first) and any(c.strip().lower() in LABEL_NAMES + ID_NAMES[:2] for c in first)
    header = non1 > non2 or (second is None and non1 == len(first)) or names_a_column
    width = len(first)
    table.columns = list(first) if header else [f"column {i + 1}" for i in range(width)]
    if width < 2:
        raise DatasetError(table.path, "has a single column, so there are no features besides the labels")
    named = [i for i, c in enumerate(table.columns) if header and c.strip().lower() in LABEL_NAMES]
    table.label = named[0] if named else width - 1
    ids = [i for i, c in enumerate(table.columns)
           if header and i != table.label and c.strip().lower() in ID_NAMES and i == 0]
    table.features = [i for i in range(width) if i != table.label and i not in ids]
    if not table.features:
        raise DatasetError(table.path, "has no feature columns besides the labels")
    return header


def _convert(table: TableLayout, chunk: list[list[str]], lines: list[int], blocks: list, labels: list) -> None:
    cells = np.array(chunk, dtype=str)
    labels.append(cells[:, table.label])
    feats = cells[:, table.features]
    try:
        if table.decimal_comma:
            feats = np.char.replace(feats, ",", ".")
        values = feats.astype(np.float32)
    except ValueError:
        values = None
        if table.delimiter == ";" and not table.decimal_comma:
            try:
                values = np.char.replace(feats, ",", ".").astype(np.float32)
                table.decimal_comma = True
            except ValueError:
                values = None
        if values is None:
            _report_bad_cell(table, feats, lines)
    if not np.isfinite(values).all():
        r, c = np.argwhere(~np.isfinite(values))[0]
        raise DatasetError(table.path, f"holds a NaN or infinite value at line {lines[r]}, column "
                                       f"{table.columns[table.features[c]]!r}")
    blocks.append(values)


def _report_bad_cell(table: TableLayout, feats: np.ndarray, lines: list[int]):
    for r in range(feats.shape[0]):
        for c in range(feats.shape[1]):
            cell = str(feats[r, c])
            if table.decimal_comma:
                cell = cell.replace(",", ".")
            if not _is_number(cell):
                column = table.columns[table.features[c]]
                if not cell:
                    raise DatasetError(table.path, f"has an empty value at line {lines[r]}, column {column!r}")
                shown = cell if len(cell) <= 30 else cell[:27] + "..."
                raise DatasetError(table.path, f"has a non-numeric feature at line {lines[r]}, column {column!r}: "
                                               f"{shown!r} (feature columns must hold numbers)")
    raise DatasetError(table.path, "has values that are not numbers")


def _labels(table: TableLayout, text: np.ndarray) -> tuple[np.ndarray, list[str]]:
    column = table.columns[table.label]
    empty = np.flatnonzero(np.char.str_len(text) == 0)
    if len(empty):
        raise DatasetError(table.path, f"has a row with no label (row {int(empty[0]) + 1} of the data, "
                                       f"column {column!r})")
    try:
        numbers = text.astype(np.float64)
    except ValueError:
        return encode_labels(table.path, text)
    if not np.isfinite(numbers).all():
        raise DatasetError(table.path, f"has a NaN or infinite label in column {column!r}")
    if not np.all(numbers == np.round(numbers)):
        raise DatasetError(table.path, f"has labels that are not whole numbers in column {column!r}, so they are "
                                       "not classes (name the label column label, class, target, y or species)")
    return encode_labels(table.path, numbers)
