"""NumPy .npz archives and .npy arrays, read without pickle and sized from their headers first.

A bare .npy holds one array, so its labels come from elsewhere, in this order: a sibling
file named like the labels (X.npy with y.npy, x_train.npy with y_train.npy,
train_images.npy with train_labels.npy); else, for a 2-D array, its last column when that
column holds whole numbers. Otherwise it is refused as having no labels.
"""

from __future__ import annotations

import math
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats.arrays import (FEATURE_KEYS, LABEL_KEYS, build_dataset, choose_keys, class_names,
                                            dataset_name, encode_labels, features_to_x)
from gpuviz_app.data.formats.context import LoadContext, read_exact, require_memory

_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, SyntaxError, TypeError, KeyError)


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_npy_header(path: Path, f: BinaryIO, what: str = "") -> NpyHeader:
    where = f" ({what})" if what else ""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise DatasetError(path, f"uses .npy format version {version[0]}.{version[1]}{where}, which gpuviz "
                                     "does not read")
    except DatasetError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy's header parser raises many types on damaged bytes
        raise DatasetError(path, f"has a damaged .npy header{where} ({type(exc).__name__})") from None
    if dtype.hasobject:
        raise DatasetError(path, f"holds Python objects{where} (a pickled array), which gpuviz does not load "
                                 "because unpickling can run code")
    if dtype.names is not None or dtype.kind not in "biufUS" or dtype.subdtype is not None:
        raise DatasetError(path, f"holds {dtype} values{where}, not plain numbers or text")
    if any(d < 0 for d in shape):
        raise DatasetError(path, f"has a damaged .npy header{where} (negative size)")
    return NpyHeader(tuple(int(d) for d in shape), dtype, bool(fortran))


def read_npy_data(path: Path, f: BinaryIO, header: NpyHeader, available: int, ctx: LoadContext | None,
                  what: str = "") -> np.ndarray:
    """The array's values, after checking the header's size against the bytes there are and free memory."""
    where = f" ({what})" if what else ""
    if header.nbytes > available:
        raise DatasetError(path, f"is truncated{where}: its header declares {_dims(header.shape)} values "
                                 f"({header.nbytes:,} bytes), the file holds {available:,} bytes")
    require_memory(path, header.nbytes + math.prod(header.shape) * 4, f"its {_dims(header.shape)} values")
    out = np.empty(math.prod(header.shape), header.dtype)
    try:
        read_exact(path, f, memoryview(out.view(np.uint8)), ctx, "values")
    except _ERRORS as exc:
        raise DatasetError(path, f"is corrupt{where} ({exc})") from None
    if header.fortran:
        return out.reshape(header.shape[::-1]).T
    return out.reshape(header.shape)


def _dims(shape: tuple[int, ...]) -> str:
    return " x ".join(f"{d:,}" for d in shape) or "1"


def read_npy(path: Path, ctx: LoadContext | None) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            header = read_npy_header(path, f)
            available = path.stat().st_size - f.tell()
            return read_npy_data(path, f, header, available, ctx)
    except OSError as exc:
        raise DatasetError(path, f"could not be read ({exc})") from None


# -- .npz -----------------------------------------------------------------------------------------------
def load_npz(path: Path, ctx: LoadContext) -> Dataset:
    try:
        with zipfile.ZipFile(path) as zf:
            members = {}
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[: -len(".npy")]
                with zf.open(info) as f:
                    header = read_npy_header(path, f, key)
                    members[key] = (info, header, f.tell() if f.seekable() else 0)
            if not members:
                raise DatasetError(path, "is a zip archive with no NumPy arrays in it")
            shapes = {k: h.shape for k, (_, h, _) in members.items()}
            feats, labs, names_key = choose_keys(path, shapes)
            total = sum(members[k][1].nbytes for k in feats + labs) or 1
            arrays: dict[str, np.ndarray] = {}
            done = 0
            for key in feats + labs + ([names_key] if names_key else []):
                info, header, _ = members[key]
                with zf.open(info) as f:
                    read_npy_header(path, f, key)
                    offset = f.tell()
                    sub = ctx.phase(0.7 * done / total, 0.7 * (done + header.nbytes) / total)
                    arrays[key] = read_npy_data(path, f, header, info.file_size - offset, sub, key)
                done += header.nbytes
    except DatasetError:
        raise
    except _ERRORS as exc:
        raise DatasetError(path, f"is a damaged .npz archive ({exc})") from None
    return arrays_to_dataset(path, arrays, feats, labs, names_key, ctx.phase(0.7, 1.0))


def arrays_to_dataset(path: Path, arrays: dict[str, np.ndarray], feats: list[str], labs: list[str],
                      names_key: str | None, ctx: LoadContext, names: list[str] | None = None) -> Dataset:
    """Features and labels picked by `choose_keys` (several splits are joined) as a checked Dataset."""
    warnings: list[str] = []
    xs = [arrays[k] for k in feats]
    ys = [arrays[k] for k in labs]
    for key, x, y in zip(feats, xs, ys):
        if len(x) != len(y):
            raise DatasetError(path, f"holds {len(x):,} samples ({key}) but {len(y):,} labels")
    if len({x.shape[1:] for x in xs}) > 1:
        raise DatasetError(path, f"holds splits with different sample shapes ({', '.join(feats)})")
    x_raw = xs[0] if len(xs) == 1 else np.concatenate(xs)
    y_raw = ys[0] if len(ys) == 1 else np.concatenate(ys)
    if len(feats) > 1:
        warnings.append(f"joined {', '.join(feats)}")
    x, kind = features_to_x(path, x_raw, warnings, ctx)
    if names is None and names_key:
        names = class_names(path, arrays.get(names_key))
    y, classes = encode_labels(path, y_raw, names)
    ctx.report(1.0)
    return build_dataset(path, x, y, classes, kind, ctx, warnings=warnings)


# -- .npy -----------------------------------------------------------------------------------------------
def _tokens(stem: str) -> list[str]:
    return re.split(r"([_\-. ]+)", stem)


def label_sibling(path: Path) -> tuple[Path, bool] | None:
    """The file that pairs with `path` (and whether `path` is the features side), found by name."""
    parts = _tokens(path.stem)
    siblings = {p.name.lower(): p for p in path.parent.glob("*") if p.suffix.lower() == ".npy" and p != path}
    for i, token in enumerate(parts):
        low = token.lower()
        for mine, theirs, features in ((FEATURE_KEYS, LABEL_KEYS, True), (LABEL_KEYS, FEATURE_KEYS, False)):
            if low in mine:
                for other in theirs:
                    name = "".join(parts[:i] + [other] + parts[i + 1 :]).lower() + ".npy"
                    if name in siblings:
                        return siblings[name], features
    return None


def load_npy(path: Path, ctx: LoadContext) -> Dataset:
    sibling = label_sibling(path)
    if sibling is not None:
        other, is_features = sibling
        pair = (path, other) if is_features else (other, path)
        return load_npy_pair(pair[0], pair[1], ctx)
    array = read_npy(path, ctx.phase(0.0, 0.6))
    if array.ndim == 2 and array.shape[1] >= 2 and array.dtype.kind in "biuf":
        last = array[:, -1]
        if array.dtype.kind != "f" or (np.isfinite(last).all() and np.all(last == np.round(last))):
            warnings = ["no labels file was found, so the last column was used as the labels"]
            x, kind = features_to_x(path, array[:, :-1], warnings, ctx.phase(0.6, 1.0))
            y, classes = encode_labels(path, last)
            return build_dataset(path, x, y, classes, kind, ctx, warnings=warnings)
    raise DatasetError(path, "holds one array and no labels (drop it with its labels .npy, e.g. X.npy with y.npy, "
                             "or save both in an .npz)")


def load_npy_pair(features: Path, labels: Path, ctx: LoadContext) -> Dataset:
    x = read_npy(features, ctx.phase(0.0, 0.6))
    y = read_npy(labels, ctx.phase(0.6, 0.7))
    if len(x) != len(y):
        raise DatasetError(labels, f"holds {len(y):,} labels but {features.name} holds {len(x):,} samples")
    warnings: list[str] = []
    xf, kind = features_to_x(features, x, warnings, ctx.phase(0.7, 1.0))
    yi, classes = encode_labels(labels, y)
    name = dataset_name(features)
    return build_dataset(features, xf, yi, classes, kind, ctx, name=name, warnings=warnings,
                         source=f"{features} + {labels}")


def pair_npy_paths(a: Path, b: Path) -> tuple[Path, Path]:
    """Which of two dropped .npy files holds the labels: by name, else the one-dimensional one."""
    sib = label_sibling(a)
    if sib is not None and sib[0] == b:
        return (a, b) if sib[1] else (b, a)
    for first, second in ((a, b), (b, a)):
        if any(t.lower() in LABEL_KEYS for t in _tokens(second.stem)):
            return first, second
    dims = []
    for p in (a, b):
        try:
            with open(p, "rb") as f:
                dims.append(len(read_npy_header(p, f).shape))
        except OSError as exc:
            raise DatasetError(p, f"could not be read ({exc})") from None
    if dims[0] == 1 and dims[1] > 1:
        return b, a
    if dims[1] == 1 and dims[0] > 1:
        return a, b
    raise DatasetError(a, f"and {b.name} were dropped together, but neither is recognisably the labels "
                          "(name one y.npy or labels.npy)")
