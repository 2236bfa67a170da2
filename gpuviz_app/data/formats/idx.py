"""MNIST-family IDX files, raw or gzipped: an images file and a labels file make a dataset.

The header's sizes are checked against the file (and the gzip trailer) and against free
memory before anything is allocated; data is then read in chunks straight into place.
"""

from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats.arrays import build_dataset, encode_labels, features_to_x
from gpuviz_app.data.formats.context import LoadContext, read_exact, require_memory

DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_READ_ERRORS = (OSError, EOFError, zlib.error, struct.error)


@dataclass(frozen=True)
class IdxHeader:
    path: Path
    dtype: np.dtype
    shape: tuple[int, ...]
    gzipped: bool

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def header_bytes(self) -> int:
        return 4 + 4 * len(self.shape)


def _open(path: Path, gzipped: bool):
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_header(path: Path) -> IdxHeader:
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        with _open(path, gzipped) as f:
            magic = f.read(4)
            if len(magic) < 4:
                raise DatasetError(path, "is truncated: it ends inside the IDX header")
            if magic[0] != 0 or magic[1] != 0 or magic[2] not in DTYPES:
                raise DatasetError(path, f"has the wrong magic number (0x{magic.hex()}) for an IDX file")
            ndim = magic[3]
            if not 1 <= ndim <= 4:
                raise DatasetError(path, f"declares {ndim} dimensions; IDX datasets have 1 to 4")
            raw = f.read(4 * ndim)
    except _READ_ERRORS as exc:
        raise DatasetError(path, f"could not be read as IDX ({exc})") from None
    if len(raw) < 4 * ndim:
        raise DatasetError(path, "is truncated: it ends inside the IDX header")
    shape = struct.unpack(f">{ndim}I", raw)
    header = IdxHeader(path, DTYPES[magic[2]], tuple(shape), gzipped)
    if 0 in shape:
        raise DatasetError(path, f"declares an empty array of shape {' x '.join(map(str, shape))}")
    _check_size(header)
    return header


def _check_size(h: IdxHeader) -> None:
    size = h.path.stat().st_size
    dims = " x ".join(f"{d:,}" for d in h.shape)
    if h.gzipped:
        try:
            with open(h.path, "rb") as f:
                f.seek(-4, 2)
                (isize,) = struct.unpack("<I", f.read(4))
        except _READ_ERRORS:
            raise DatasetError(h.path, "is a truncated gzip file") from None
        if (h.header_bytes + h.nbytes) % (1 << 32) != isize:
            raise DatasetError(h.path, f"is truncated or corrupt: its gzip trailer does not match the {dims} "
                                       "values its header declares")
    else:
        held = size - h.header_bytes
        if held < h.nbytes:
            raise DatasetError(h.path, f"is truncated: its header declares {dims} values ({h.nbytes:,} bytes), "
                                       f"the file holds {held:,} bytes")
        if held > h.nbytes:
            raise DatasetError(h.path, f"is longer than its header declares ({dims} values, {h.nbytes:,} bytes; "
                                       f"the file holds {held:,})")
    require_memory(h.path, math.prod(h.shape) * 4 + h.nbytes, f"its {dims} values")


def read_array(h: IdxHeader, ctx: LoadContext) -> np.ndarray:
    out = np.empty(h.shape, h.dtype)
    try:
        with _open(h.path, h.gzipped) as f:
            f.read(h.header_bytes)
            read_exact(h.path, f, memoryview(out.reshape(-1).view(np.uint8)), ctx, "values")
            if f.read(1):
                raise DatasetError(h.path, "holds more data than its header declares")
    except _READ_ERRORS as exc:
        raise DatasetError(h.path, f"is corrupt ({exc})") from None
    return out if h.dtype.isnative else out.astype(h.dtype.newbyteorder("="))


def _pair_key(name: str) -> str:
    """train-images-idx3-ubyte and train-labels-idx1-ubyte share the key train-*-idx-ubyte."""
    key = name.lower().removesuffix(".gz")
    key = re.sub(r"images?|labels?", "*", key)
    return re.sub(r"idx\d", "idx", key)


def pair_headers(headers: Sequence[IdxHeader]) -> list[tuple[IdxHeader, IdxHeader]]:
    """Images files (2+ dims) matched with labels files (1 dim) by name, or the only two there are."""
    # the same file raw and gzipped (as torchvision keeps them): use the raw one
    by_name: dict[str, IdxHeader] = {}
    for h in headers:
        key = h.path.name.lower().removesuffix(".gz")
        if key not in by_name or by_name[key].gzipped:
            by_name[key] = h
    unique = list(by_name.values())
    images = [h for h in unique if len(h.shape) >= 2]
    labels = [h for h in unique if len(h.shape) == 1]
    first = headers[0].path
    if not images:
        raise DatasetError(first, "is an IDX labels file with no images file next to it (drop the pair together)")
    if not labels:
        raise DatasetError(images[0].path, "is an IDX images file with no labels file next to it "
                                           "(drop the pair together)")
    if len(images) == 1 and len(labels) == 1:
        return [(images[0], labels[0])]
    pairs = []
    for im in images:
        match = [lb for lb in labels if _pair_key(lb.path.name) == _pair_key(im.path.name)]
        if len(match) == 1:
            pairs.append((im, match[0]))
    if not pairs:
        raise DatasetError(images[0].path, "could not be matched with one of the IDX labels files by name")
    return pairs


def load_idx_files(paths: Sequence[Path], ctx: LoadContext, name: str | None = None) -> Dataset:
    headers = [read_header(p) for p in paths]
    pairs = pair_headers(headers)
    shapes = {im.shape[1:] for im, _ in pairs}
    if len(shapes) > 1:
        raise DatasetError(pairs[0][0].path, "and the other IDX images files hold images of different sizes")
    for im, lb in pairs:
        if im.shape[0] != lb.shape[0]:
            raise DatasetError(lb.path, f"holds {lb.shape[0]:,} labels but {im.path.name} holds "
                                        f"{im.shape[0]:,} images")
    total = sum(im.nbytes + lb.nbytes for im, lb in pairs)
    done = 0
    xs, ys, warnings = [], [], []
    for im, lb in pairs:
        share = (im.nbytes + lb.nbytes) / total
        phase = ctx.phase(0.7 * done, 0.7 * (done + share))
        xs.append(read_array(im, phase.phase(0.0, 0.6)))
        ys.append(read_array(lb, phase.phase(0.6, 0.65)))
        done += share
    x_raw = xs[0] if len(xs) == 1 else np.concatenate(xs)
    del xs
    y_raw = ys[0] if len(ys) == 1 else np.concatenate(ys)
    x, kind = features_to_x(pairs[0][0].path, x_raw, warnings, ctx.phase(0.7, 1.0))
    y, classes = encode_labels(pairs[0][1].path, y_raw)
    if len(pairs) > 1:
        warnings.append(f"joined {len(pairs)} image/label pairs ({', '.join(im.path.name for im, _ in pairs)})")
    first = pairs[0][0].path
    label = name or _pair_key(first.name).replace("-*-", "-").replace("*", "").strip("-_.") or first.stem
    source = " + ".join(str(p) for pair in pairs for p in (pair[0].path, pair[1].path))
    ctx.report(1.0)
    return build_dataset(first, x, y, classes, kind, ctx, name=label, warnings=warnings, source=source)


def load_idx(path: Path, ctx: LoadContext) -> Dataset:
    """A single dropped IDX file: find its partner next to it."""
    header = read_header(path)
    partners = []
    for sibling in sorted(path.parent.iterdir()):
        if sibling == path or _pair_key(sibling.name) != _pair_key(path.name) or not sibling.is_file():
            continue
        try:
            h = read_header(sibling)
        except DatasetError:
            continue
        if (len(h.shape) == 1) != (len(header.shape) == 1):
            partners.append(sibling)
    if len(partners) == 2 and partners[0].name.removesuffix(".gz") == partners[1].name.removesuffix(".gz"):
        partners = [p for p in partners if p.name.endswith(".gz") == path.name.endswith(".gz")] or partners[:1]
    if len(partners) != 1:
        what = "labels" if len(header.shape) == 1 else "images"
        other = "images" if what == "labels" else "labels"
        raise DatasetError(path, f"is an IDX {what} file and no matching {other} file is next to it "
                                 "(drop the pair together)")
    return load_idx_files([path, partners[0]], ctx)
