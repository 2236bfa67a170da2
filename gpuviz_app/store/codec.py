"""How one record of a run store is laid out: the schema, payloads as trees plus (delta-coded,
compressed) arrays, and the checksum every record carries (SQLite checksums nothing).

A payload record holds the payload's tree (`core.payload_tree`) and one entry per array: its
dtype, shape, how its bytes are kept (`z` compressed, `x` compressed XOR with the array at the
same place in the view's previous record, `base`, `s` the same as that one, `r` raw) and which
array of the base it pairs with. XOR against the previous version is exact and turns what did not change (the
weights columns already written, when their array grew by a column; the embedding's inputs)
into zeros that compress to almost nothing; the bytes are compressed a byte plane at a time, so
the equal high bytes of floats that changed a little compress too. Every array is kept bit for
bit as it was offered.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpuviz_app.core.payload_tree import DTYPES, MAX_NDIM, BadPayload, TreeEncoder, TreeReader, check, is_int

SCHEMA_VERSION = 1
APPLICATION_ID = 0x67767A31  # "gvz1": marks an SQLite file as a gpuviz run store
SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    view TEXT NOT NULL,
    step INTEGER NOT NULL,
    wall REAL NOT NULL,
    version INTEGER NOT NULL,
    base INTEGER NOT NULL,
    header BLOB NOT NULL,
    data BLOB NOT NULL,
    crc INTEGER NOT NULL
)
"""
FRAME, PAYLOAD, ROWS, DROPS = 0, 1, 2, 3  # record kinds
COMPRESS_LEVEL = 1
RAW_RATIO = 0.9  # arrays compressing to more than this of their size are kept raw


@dataclass(frozen=True)
class Record:
    id: int
    kind: int
    view: str
    step: int
    wall: float
    version: int
    base: int  # id of the record a delta applies to; 0 for a keyframe or a record of another kind
    header: bytes
    data: bytes


def checksum(kind: int, view: str, step: int, wall: float, version: int, base: int,
             header: bytes, data: bytes) -> int:
    head = struct.pack("<iqdqq", kind, step, wall, version, base) + view.encode()
    return zlib.crc32(data, zlib.crc32(header, zlib.crc32(head)))


def record_ok(record: Record, crc: int) -> bool:
    return checksum(record.kind, record.view, record.step, record.wall, record.version, record.base,
                    record.header, record.data) == crc


class _PathEncoder(TreeEncoder):
    """Notes where in the payload each array sits, so a delta pairs it with the same array before."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def array_node(self, value: Any, arrays: list[np.ndarray], path: str) -> dict:
        self.paths.append(path)
        return super().array_node(value, arrays, path)


def encode_payload(payload: Any, previous: Previous | None) -> tuple[bytes, bytes, Previous]:
    """(header, data, arrays by path) of a payload; each array is XOR-coded against the array at the
    same path in `previous` (the view's previous record) when their dtype and number of dimensions
    match (the overlap of their shapes, for one that grew), else kept whole."""
    arrays: list[np.ndarray] = []
    encoder = _PathEncoder()
    tree = encoder.value(payload, arrays, 0)
    specs, chunks = [], []
    order = {path: i for i, path in enumerate(previous.paths)} if previous is not None else {}
    for array, path in zip(arrays, encoder.paths):
        j = order.get(path, -1)
        before = previous.arrays[j] if j >= 0 else None
        flat, box = _bytes_of(array), None
        if before is not None and before.dtype == array.dtype and before.ndim == array.ndim and flat.size:
            flat, box = _changed(np.bitwise_xor(flat, _overlap(before, array.shape)), array.shape, array.itemsize)
            mode = "x" if before.shape != array.shape or flat.size else "s"
        else:
            mode, j = "z", -1
        packed = b"" if mode == "s" or not flat.size else zlib.compress(_planes(flat, array.dtype.itemsize),
                                                                        COMPRESS_LEVEL)
        if mode == "z" and len(packed) > RAW_RATIO * flat.size:
            packed, mode = flat.tobytes(), "r"
        specs.append([array.dtype.name, list(array.shape), mode, len(packed), j, box])
        chunks.append(packed)
    header = json.dumps({"tree": tree, "arrays": specs}, separators=(",", ":")).encode()
    return header, b"".join(chunks), Previous(encoder.paths, arrays)


@dataclass(frozen=True)
class Previous:
    """The arrays of a view's last record, with where each sat in its payload."""

    paths: list[str]
    arrays: list[np.ndarray]


def _changed(diff: np.ndarray, shape: tuple[int, ...], itemsize: int) -> tuple[np.ndarray, list[list[int]]]:
    """The smallest box of `diff` (XOR bytes of an array of `shape`) holding every non-zero byte:
    (its bytes, [[start, stop] per axis]); most of a payload that grew or changed in part is outside."""
    word = _UINTS.get(itemsize)
    nonzero = diff.view(word) != 0 if word is not None else diff.reshape(-1, itemsize).any(axis=1)
    hits = np.flatnonzero(nonzero)  # (one pass: an axis at a time would reduce the array once per axis)
    if not hits.size:
        return np.zeros(0, np.uint8), [[0, 0]] * len(shape)
    if not shape:
        return diff, []
    if hits.size == nonzero.size:  # every element changed: the box is the whole array
        return diff, [[0, int(d)] for d in shape]
    coords = np.unravel_index(hits[[0, -1]] if len(shape) == 1 else hits, shape)
    box = [[int(c.min()), int(c.max()) + 1] for c in coords]
    inside = tuple(slice(lo, hi) for lo, hi in box)
    return np.ascontiguousarray(diff.reshape(shape + (itemsize,))[inside]).reshape(-1), box


_UINTS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _bytes_of(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _overlap(before: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`before`'s bytes laid out in an array of `shape` (zeros where it does not reach)."""
    if before.shape == shape:
        return _bytes_of(before)
    out = np.zeros(shape, before.dtype)
    common = tuple(slice(0, min(a, b)) for a, b in zip(before.shape, shape))
    out[common] = before[common]
    return _bytes_of(out)


_PLANED = (2, 4, 8)  # element sizes whose bytes are split into planes


def _planes(flat: np.ndarray, itemsize: int) -> np.ndarray:
    """Byte k of every element together, k = 0 .. itemsize - 1 (the high bytes of floats that
    changed a little are equal, and compress well together); bytes in little-endian order."""
    if itemsize not in _PLANED:
        return flat
    elements = flat.reshape(-1, itemsize)
    out = np.empty((itemsize, len(elements)), np.uint8)
    for k in range(itemsize):  # (a plane at a time: numpy's transposing copy of bytes is several times slower)
        out[k] = elements[:, k]
    return out.reshape(-1)


def _unplanes(flat: np.ndarray, itemsize: int) -> np.ndarray:
    if itemsize not in _PLANED:
        return flat
    planes = flat.reshape(itemsize, -1)
    out = np.empty((planes.shape[1], itemsize), np.uint8)
    for k in range(itemsize):
        out[:, k] = planes[k]
    return out.reshape(-1)


def decode_arrays(header: dict, data: bytes, previous: list[np.ndarray] | None,
                  owned: set[int] | None = None) -> list[np.ndarray]:
    """The arrays of a payload record; `previous`: the arrays of its base record (for `x` and `s`).

    Without `owned` every array returned is new or shared with `previous`, and read-only. With it
    (the ids of arrays in `previous` that the caller owns and no one else reads), a delta is applied
    in place to an owned array of the same shape, the arrays made here are added to `owned` and left
    writable: a chain of deltas is then applied to one copy instead of one copy per link."""
    specs = header.get("arrays")
    check(isinstance(specs, list), "a record's arrays is not a list")
    out, at = [], 0
    taken: set[int] = set()  # arrays of `previous` changed in place here (once each)
    for i, spec in enumerate(specs):
        check(isinstance(spec, list) and len(spec) == 6 and spec[0] in DTYPES and isinstance(spec[1], list)
              and len(spec[1]) <= MAX_NDIM and all(is_int(d) and d >= 0 for d in spec[1])
              and spec[2] in ("z", "x", "s", "r") and is_int(spec[3]) and 0 <= spec[3] <= len(data) - at
              and is_int(spec[4]) and _box_fits(spec[5], spec[1]),
              f"array {i} of a record is not [dtype, shape, mode, size, base, box]")
        dtype, shape, mode, size, j = np.dtype(spec[0]).newbyteorder("<"), tuple(spec[1]), spec[2], spec[3], spec[4]
        box = spec[5]
        check(mode != "x" or box is not None, f"array {i} of a record has no box")
        packed = data[at:at + size]
        at += size
        nbytes = math.prod(shape) * dtype.itemsize
        before = previous[j] if mode in ("x", "s") and previous is not None and 0 <= j < len(previous) else None
        check(mode in ("z", "r") or (before is not None and before.dtype == dtype and before.ndim == len(shape)),
              f"array {i} of a record has no base to apply to")
        if mode == "s":
            check(before.shape == shape, f"array {i} of a record does not fit its base")
            out.append(before)
            continue
        try:
            flat = (np.frombuffer(packed, np.uint8) if mode == "r"
                    else _unplanes(np.frombuffer(zlib.decompress(packed), np.uint8), dtype.itemsize) if packed
                    else np.zeros(0, np.uint8))
        except (zlib.error, ValueError):
            raise BadPayload(f"array {i} of a record does not decompress") from None
        if mode == "x":
            inside = tuple(slice(lo, hi) for lo, hi in box)
            check(flat.size == math.prod(hi - lo for lo, hi in box) * dtype.itemsize,
                  f"array {i} of a record does not fit its box")
            in_place = (owned is not None and id(before) in owned and id(before) not in taken and before.shape == shape
                        and before.flags.writeable)
            taken.add(id(before))
            if in_place:
                whole = _bytes_of(before)
            elif before.shape != shape:
                whole = _overlap(before, shape)  # (a new array already: the one that grew is copied into it)
            else:
                whole = _bytes_of(before).copy()
            if flat.size:
                cells = whole.reshape(shape + (dtype.itemsize,))
                cells[inside] ^= flat.reshape(cells[inside].shape)
            if in_place:
                out.append(before)
                continue
            flat = whole
        check(flat.size == nbytes, f"array {i} of a record does not fit its shape")
        array = flat.view(dtype).reshape(shape)
        if owned is None or not array.flags.writeable:
            array.flags.writeable = False
        else:
            owned.add(id(array))
        out.append(array)
    return out


def _box_fits(box: Any, shape: list) -> bool:
    return box is None or (isinstance(box, list) and len(box) == len(shape) and all(
        isinstance(b, list) and len(b) == 2 and is_int(b[0]) and is_int(b[1]) and 0 <= b[0] <= b[1] <= d
        for b, d in zip(box, shape)))


def decode_tree(header: dict, arrays: list[np.ndarray]) -> Any:
    return TreeReader(arrays).value(header.get("tree"), 0)


def parse_header(header: bytes) -> dict:
    try:
        value = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadPayload("a record's header is not UTF-8 JSON") from None
    check(isinstance(value, dict), "a record's header is not a JSON object")
    return value


def encode_rows(rows: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[bytes, bytes]:
    """Metric rows (name -> steps int64, values float64) as one record's header and data."""
    names, chunks = [], []
    for name, (steps, values) in rows.items():
        names.append([name, len(steps)])
        chunks += [np.ascontiguousarray(steps, "<i8").tobytes(), np.ascontiguousarray(values, "<f8").tobytes()]
    return json.dumps({"rows": names}, separators=(",", ":")).encode(), zlib.compress(b"".join(chunks), COMPRESS_LEVEL)


def decode_rows(header: dict, data: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    names = header.get("rows")
    check(isinstance(names, list) and all(isinstance(e, list) and len(e) == 2 and isinstance(e[0], str)
                                          and is_int(e[1]) and e[1] >= 0 for e in names),
          "a rows record does not list [name, count] pairs")
    try:
        raw = zlib.decompress(data)
    except zlib.error:
        raise BadPayload("a rows record does not decompress") from None
    check(len(raw) == 16 * sum(n for _, n in names), "a rows record does not fit its counts")
    out, at = {}, 0
    for name, n in names:
        steps = np.frombuffer(raw, "<i8", n, at)
        values = np.frombuffer(raw, "<f8", n, at + 8 * n)
        at += 16 * n
        out[name] = (steps, values)
    return out
