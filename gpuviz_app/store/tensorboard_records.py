"""TFRecord framing of TensorBoard event files, read with every checksum checked.

A record is `length (uint64) | masked CRC-32C of length | data | masked CRC-32C of data`.
TensorBoard's own reader, without TensorFlow installed, computes CRC-32C in pure Python, a
few milliseconds per histogram event; this reader checks the same checksums with the C
implementation of `google-crc32c` (falling back to TensorBoard's when it is missing).

Damage is reported, never raised: a record whose data fails its checksum is skipped; a
length that fails its checksum makes the reader look for the next intact record (one whose
length and data both pass); a file that ends inside a record has its last bytes ignored.
"""

from __future__ import annotations

import functools
import logging
import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Callable, Iterator

log = logging.getLogger(__name__)

_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
MAX_RECORD = 1 << 30  # a longer length is corrupt (an event is at most a few megabytes)
MAX_SCAN = 4 << 20  # bytes searched for an intact record after a corrupt length (then the rest is lost)


@functools.lru_cache(maxsize=1)
def _crc32c() -> Callable[[bytes], int]:
    try:
        import google_crc32c

        if google_crc32c.implementation == "c":
            return google_crc32c.value
    except ImportError:
        pass
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c

    log.warning("checking TensorBoard records in pure Python (slow): pip install 'gpuviz-app[tensorboard]' "
                "brings google-crc32c's C code")
    return crc32c


def masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


@dataclass
class FileDamage:
    """What could not be read from one file."""

    bad_records: int = 0  # data failed its checksum: skipped
    resyncs: list[tuple[int, int]] = field(default_factory=list)  # (offset, bytes skipped) after a bad length
    truncated: int = 0  # bytes at the end that do not make a whole record
    size: int = 0  # of the file

    def sentences(self, name: str) -> list[str]:
        out = []
        if self.bad_records:
            out.append(f"{name}: {self.bad_records} record(s) failed their checksum and were skipped.")
        for offset, skipped in self.resyncs:
            out.append(f"{name}: a corrupt record length at byte {offset}; {skipped} bytes were skipped "
                       f"to the next intact record." if offset + skipped < self.size else
                       f"{name}: a corrupt record length at byte {offset}; no intact record was found "
                       f"after it, so its last {skipped} bytes were ignored.")
        if self.truncated:
            out.append(f"{name}: the file ends inside a record (truncated); its last {self.truncated} bytes "
                       f"were ignored.")
        return out


def read_records(path: str | os.PathLike, damage: FileDamage) -> Iterator[bytes]:
    """The data of every intact record of the file at `path`, in order; damage is noted in `damage`."""
    crc = _crc32c()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        damage.size = size
        if size == 0:
            return
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            yield from _records(buf, size, crc, damage)
        finally:
            buf.close()


def _intact(buf: mmap.mmap, at: int, size: int, crc: Callable[[bytes], int]) -> int | None:
    """The data length of an intact record at `at` (both checksums pass), else None."""
    if at + 12 > size:
        return None
    length, length_crc = _HEADER.unpack_from(buf, at)
    if length > MAX_RECORD or masked(crc(buf[at : at + 8])) != length_crc or at + 16 + length > size:
        return None
    data = buf[at + 12 : at + 12 + length]
    return length if masked(crc(data)) == _FOOTER.unpack_from(buf, at + 12 + length)[0] else None


def _records(buf: mmap.mmap, size: int, crc: Callable[[bytes], int], damage: FileDamage) -> Iterator[bytes]:
    at = 0
    while at < size:
        if at + 12 > size:
            damage.truncated = size - at
            return
        length, length_crc = _HEADER.unpack_from(buf, at)
        if length > MAX_RECORD or masked(crc(buf[at : at + 8])) != length_crc:
            start = at
            limit = min(size, at + MAX_SCAN)
            at += 1
            while at + 12 <= limit and _intact(buf, at, size, crc) is None:
                at += 1
            if at + 12 > limit:
                damage.resyncs.append((start, size - start))
                return
            damage.resyncs.append((start, at - start))
            continue
        end = at + 12 + length + 4
        if end > size:
            damage.truncated = size - at
            return
        data = buf[at + 12 : end - 4]
        if masked(crc(data)) == _FOOTER.unpack_from(buf, end - 4)[0]:
            yield data
        else:
            damage.bad_records += 1
        at = end
