"""How one record of a run store is laid out: the schema, payloads as trees plus (delta-coded,
compressed) arrays, and the checksum every record carries (SQLite checksums nothing).

A payload record holds the payload's tree (`core.payload_tree`) and one entry per array: its
dtype, shape and how its bytes are kept, `z` compressed, `x` compressed XOR with the same array
of the view's previous record (`base`), `r` raw. XOR against the previous version is exact and
turns what did not change (a weights column already written, the embedding's inputs) into
zeros that compress to almost nothing. Every array is kept bit for bit as it was offered.
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


def encode_payload(payload: Any, previous: list[np.ndarray] | None) -> tuple[bytes, bytes, list[np.ndarray]]:
    """(header, data, arrays) of a payload; arrays are XOR-coded against `previous` (the arrays of
    the view's previous record) where dtype and shape match, else kept whole."""
    arrays: list[np.ndarray] = []
    tree = TreeEncoder().value(payload, arrays, 0)
    specs, chunks = [], []
    for i, array in enumerate(arrays):
        raw = array.tobytes()
        mode = "z"
        before = previous[i] if previous is not None and i < len(previous) else None
        if before is not None and before.dtype == array.dtype and before.shape == array.shape and raw:
            mine = np.frombuffer(raw, np.uint8)
            raw = np.bitwise_xor(mine, np.frombuffer(before.tobytes(), np.uint8)).tobytes()
            mode = "x"
        packed = zlib.compress(raw, COMPRESS_LEVEL) if raw else b""
        if mode == "z" and len(packed) > RAW_RATIO * len(raw):
            packed, mode = raw, "r"
        specs.append([array.dtype.name, list(array.shape), mode, len(packed)])
        chunks.append(packed)
    header = json.dumps({"tree": tree, "arrays": specs}, separators=(",", ":")).encode()
    return header, b"".join(chunks), arrays


def decode_arrays(header: dict, data: bytes, previous: list[np.ndarray] | None) -> list[np.ndarray]:
    """The arrays of a payload record; `previous`: the arrays of its base record (for `x` entries)."""
    specs = header.get("arrays")
    check(isinstance(specs, list), "a record's arrays is not a list")
    out, at = [], 0
    for i, spec in enumerate(specs):
        check(isinstance(spec, list) and len(spec) == 4 and spec[0] in DTYPES and isinstance(spec[1], list)
              and len(spec[1]) <= MAX_NDIM and all(is_int(d) and d >= 0 for d in spec[1])
              and spec[2] in ("z", "x", "r") and is_int(spec[3]) and 0 <= spec[3] <= len(data) - at,
              f"array {i} of a record is not [dtype, shape, mode, size]")
        dtype, shape, mode, size = np.dtype(spec[0]).newbyteorder("<"), tuple(spec[1]), spec[2], spec[3]
        packed = data[at:at + size]
        at += size
        nbytes = math.prod(shape) * dtype.itemsize
        try:
            raw = packed if mode == "r" else (zlib.decompress(packed) if packed else b"")
        except zlib.error:
            raise BadPayload(f"array {i} of a record does not decompress") from None
        check(len(raw) == nbytes, f"array {i} of a record does not fit its shape")
        if mode == "x":
            before = previous[i] if previous is not None and i < len(previous) else None
            check(before is not None and before.nbytes == nbytes, f"array {i} of a record has no base to apply to")
            raw = np.bitwise_xor(np.frombuffer(raw, np.uint8), before.reshape(-1).view(np.uint8)).tobytes()
        out.append(np.frombuffer(raw, dtype).reshape(shape))
    return out


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
