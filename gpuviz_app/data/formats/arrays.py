"""From arrays to a checked Dataset: key conventions, label encoding, image scaling, validation.

Every format that holds named arrays (.npz, .pt, safetensors) picks features and labels by
the same names, so a file saved one way loads the same as another.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from gpuviz_app.data.dataset import Dataset, DatasetError, Kind
from gpuviz_app.data.formats.context import LoadContext

FEATURE_KEYS = ("x", "data", "features", "images", "inputs")
LABEL_KEYS = ("y", "labels", "label", "target", "targets")
NAME_KEYS = ("class_names", "classes", "label_names", "names")
SPLITS = ("train", "val", "valid", "validation", "test")
_CHUNK = 1 << 20  # elements per chunk for whole-array passes (bounded temporaries, steady progress)


def choose_keys(path: Path, shapes: dict[str, tuple[int, ...]]) -> tuple[list[str], list[str], str | None]:
    """Feature keys, label keys (several when the file holds train/test splits) and a class-names key."""
    lower = {k.lower(): k for k in shapes}
    names = next((lower[k] for k in NAME_KEYS if k in lower), None)
    feat = next((lower[k] for k in FEATURE_KEYS if k in lower), None)
    lab = next((lower[k] for k in LABEL_KEYS if k in lower), None)
    if feat and lab:
        return [feat], [lab], names
    feats, labs = [], []
    for split in SPLITS:  # x_train/y_train, train_images/train_labels, ...
        f = next((lower[c] for k in FEATURE_KEYS for c in (f"{k}_{split}", f"{split}_{k}") if c in lower), None)
        l = next((lower[c] for k in LABEL_KEYS for c in (f"{k}_{split}", f"{split}_{k}") if c in lower), None)
        if f and l:
            feats.append(f)
            labs.append(l)
    if feats:
        return feats, labs, names
    if "arr_0" in lower and "arr_1" in lower:
        return [lower["arr_0"]], [lower["arr_1"]], names
    arrays = [k for k in shapes if k != names]
    if len(arrays) == 2:  # two arrays, one of them one value per sample: that one is the labels
        a, b = arrays
        for f, l in ((a, b), (b, a)):
            sf, sl = shapes[f], shapes[l]
            if len(sl) == 1 and len(sf) >= 2 and sf[0] == sl[0]:
                return [f], [l], names
    listed = ", ".join(sorted(shapes)[:8]) or "nothing"
    if feat and not lab:
        raise DatasetError(path, f"holds features ({feat}) but no labels (looked for {', '.join(LABEL_KEYS)})")
    raise DatasetError(path, f"holds {listed}, none named as features ({', '.join(FEATURE_KEYS)}) "
                             f"and labels ({', '.join(LABEL_KEYS)})")


def check_features_dtype(path: Path, dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise DatasetError(path, "holds Python objects (a pickled array), which gpuviz does not load because "
                                 "unpickling can run code")
    if dtype.kind in "US":
        raise DatasetError(path, "holds text where features should be numbers")
    if dtype.kind not in "biuf" or dtype.names is not None:
        raise DatasetError(path, f"holds {dtype} features, which are not plain numbers")


def features_to_x(path: Path, x: np.ndarray, warnings: list[str],
                  ctx: LoadContext | None = None) -> tuple[np.ndarray, Kind]:
    """float32 features and their kind: (N, F) vectors, or (N, C, H, W) images in [0, 1]."""
    check_features_dtype(path, x.dtype)
    if x.ndim == 0:
        raise DatasetError(path, "holds a single number, not samples")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim > 4:
        raise DatasetError(path, f"holds features of shape {x.shape}; gpuviz reads vectors (N, F) and "
                                 "images (N, H, W) or (N, C, H, W)")
    if x.ndim == 2:
        with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 become inf: refused below
            out = np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), -1)
        check_finite(path, out, ctx)
        return out, "vectors"
    if x.ndim == 3:
        x = x[:, None, :, :]
    elif x.shape[1] not in (1, 3, 4) and x.shape[3] in (1, 3, 4):  # channels last (N, H, W, C)
        x = x.transpose(0, 3, 1, 2)
    if x.shape[1] not in (1, 3, 4):
        raise DatasetError(path, f"holds images of shape {x.shape[1:]}, with no axis of 1, 3 or 4 colour channels")
    if x.shape[1] == 4:
        x = x[:, :3]
        warnings.append("the alpha channel was dropped")
    return to_unit_range(path, x, warnings, ctx), "images"


def check_finite(path: Path, x: np.ndarray, ctx: LoadContext | None = None) -> None:
    if x.dtype.kind != "f":
        return
    flat = x.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        part = flat[start : start + _CHUNK]
        if not np.isfinite(part).all():
            where = start + int(np.flatnonzero(~np.isfinite(part))[0])
            sample = where // max(1, flat.size // len(x))
            raise DatasetError(path, f"holds NaN or infinite values (first in sample {sample})")
        if ctx is not None:
            ctx.check()


def to_unit_range(path: Path, x: np.ndarray, warnings: list[str], ctx: LoadContext | None = None) -> np.ndarray:
    """float32 images with values in [0, 1], converted chunk by chunk (no full-size temporaries)."""
    out = np.empty(x.shape, np.float32)
    if x.dtype == np.uint8:
        scale, offset = 1 / 255, 0.0
    else:
        check_finite(path, x if x.dtype.kind == "f" else x[:0], ctx)
        lo, hi = float(x.min()), float(x.max())
        if lo >= 0 and hi <= 1:
            scale, offset = 1.0, 0.0
        elif lo >= 0 and hi <= 255:
            scale, offset = 1 / 255, 0.0
            warnings.append("pixel values were in 0..255 and were scaled to 0..1")
        elif lo >= 0 and hi <= 65535 and x.dtype.kind in "iu":
            scale, offset = 1 / 65535, 0.0
            warnings.append("16-bit pixel values were scaled to 0..1")
        else:
            scale, offset = 1 / (hi - lo) if hi > lo else 1.0, -lo
            warnings.append(f"pixel values spanned {lo:g}..{hi:g} and were rescaled to 0..1")
    n = len(x)
    per = max(1, _CHUNK // max(1, int(np.prod(x.shape[1:]))))
    for start in range(0, n, per):
        part = out[start : start + per]
        np.add(x[start : start + per], offset, out=part, dtype=np.float32, casting="unsafe")
        part *= scale
        if ctx is not None:
            ctx.report((start + len(part)) / n)
    return out


def encode_labels(path: Path, y: np.ndarray, names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """int64 class indices and class names from integer, text, boolean or one-hot labels."""
    y = np.asarray(y)
    if y.dtype.hasobject:
        raise DatasetError(path, "holds labels as Python objects (pickled), which gpuviz does not load")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2 and y.dtype.kind in "biuf" and len(y) and _is_one_hot(y):
        y = y.argmax(axis=1)
    if y.ndim != 1:
        raise DatasetError(path, f"holds labels of shape {y.shape}; labels must be one class per sample")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise DatasetError(path, "holds NaN or infinite labels")
        if not np.all(y == np.round(y)):
            raise DatasetError(path, "holds labels that are not whole numbers, so they are not classes "
                                     "(gpuviz trains classifiers)")
        if np.abs(y).max(initial=0) > 2**53:
            raise DatasetError(path, "holds labels too large to be class numbers")
        y = y.astype(np.int64)
    elif y.dtype.kind == "b":
        y = y.astype(np.int64)
    elif y.dtype.kind in "US":
        y = np.char.strip(y)
    elif y.dtype.kind not in "iu":
        raise DatasetError(path, f"holds {y.dtype} labels, which are neither integers nor text")
    values, index = np.unique(y, return_inverse=True)
    if values.dtype.kind in "iu" and names is not None and len(values) and values.min() >= 0 \
            and values.max() < len(names):
        classes = [str(names[int(v)]) for v in values]
    else:
        classes = [str(v) for v in values.tolist()]
    return index.astype(np.int64).reshape(-1), classes


def _is_one_hot(y: np.ndarray) -> bool:
    return bool(np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1))


def class_names(path: Path, raw: np.ndarray | Sequence | None) -> list[str] | None:
    if raw is None:
        return None
    arr = np.asarray(raw)
    if arr.dtype.hasobject or arr.ndim != 1:
        return None
    return [str(v) for v in arr.tolist()]


def build_dataset(path: Path, x: np.ndarray, y: np.ndarray, classes: list[str], kind: Kind,
                  ctx: LoadContext, name: str | None = None, skipped: int = 0,
                  warnings: Sequence[str] = (), source: str | None = None) -> Dataset:
    """The checks every format shares, then the Dataset."""
    if len(x) == 0:
        raise DatasetError(path, "holds no samples")
    if len(x) != len(y):
        raise DatasetError(path, f"holds {len(x):,} samples but {len(y):,} labels")
    present = np.bincount(y, minlength=len(classes))
    if (present == 0).any():  # names given for classes that never occur: keep only those that do
        keep = np.flatnonzero(present)
        remap = np.full(len(classes), -1, np.int64)
        remap[keep] = np.arange(len(keep))
        y, classes = remap[y], [classes[i] for i in keep]
        present = present[keep]
    if len(classes) < 2:
        only = f" ({classes[0]})" if classes else ""
        raise DatasetError(path, f"has a single class{only}; a classifier needs at least two")
    if len(classes) > ctx.options.max_classes:
        raise DatasetError(path, f"has {len(classes):,} classes, more than the {ctx.options.max_classes:,} "
                                 "gpuviz trains on (is the label column right?)")
    warnings = list(warnings)
    lonely = [c for c, n in zip(classes, present.tolist()) if n == 1]
    if lonely:
        warnings.append(f"{len(lonely)} class(es) have a single sample ({', '.join(lonely[:5])})")
    if len(classes) > len(y) // 2 and len(y) > 20:
        warnings.append(f"{len(classes)} classes for {len(y)} samples: is the label column right?")
    return Dataset(name=name or dataset_name(path), x=x, y=y, classes=list(classes), kind=kind,
                   source=source or str(path), skipped=skipped, warnings=warnings)


def dataset_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".npz", ".npy", ".csv", ".tsv", ".txt", ".pt", ".pth", ".safetensors"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return re.sub(r"\s+", " ", name) or str(path)
