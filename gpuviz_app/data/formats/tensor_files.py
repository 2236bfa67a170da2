"""PyTorch .pt/.pth files (tensors only, through `weights_only=True`) and safetensors files.

Both hold named tensors, picked by the same key conventions as .npz. A .pt file may also
hold a tuple or list (features, labels[, class names]).
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats.arrays import choose_keys
from gpuviz_app.data.formats.context import LoadContext, require_memory
from gpuviz_app.data.formats.numpy_files import arrays_to_dataset

SAFETENSORS_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                        "U8": 1, "U16": 2, "U32": 4, "U64": 8, "BOOL": 1}


def _to_numpy(value: Any) -> np.ndarray | None:
    import torch

    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if t.is_complex() or t.is_quantized or t.layout != torch.strided:
            return None
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        return t.numpy()
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return value
    return None


def _names(value: Any) -> list[str] | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (str, int)) for v in value):
        return [str(v) for v in value]
    return None


def load_torch(path: Path, ctx: LoadContext) -> Dataset:
    try:
        with zipfile.ZipFile(path) as zf:
            stored = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DatasetError(path, f"is a damaged PyTorch file ({exc})") from None
    require_memory(path, stored * 2, "its tensors")
    ctx.report(0.05, "starting torch to read it (a few seconds)")
    import pickle

    import torch

    ctx.report(0.4, "reading tensors")

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "weights_only" in text or "Unsupported" in text or "global" in text.lower():
            raise DatasetError(path, "holds Python objects besides tensors, which gpuviz does not load because "
                                     "they could run code (save a dict or tuple of tensors)") from None
        raise DatasetError(path, f"is a damaged PyTorch file ({_first_line(text)})") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged archive
        raise DatasetError(path, f"is a damaged PyTorch file ({_first_line(str(exc)) or type(exc).__name__})") \
            from None
    ctx.report(0.6, "converting")
    names: list[str] | None = None
    if isinstance(obj, dict):
        arrays = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                continue
            array = _to_numpy(value)
            if array is not None:
                arrays[key] = array
            elif _names(value) is not None and key.lower() in ("classes", "class_names", "label_names", "names"):
                names = _names(value)
        if not arrays:
            raise DatasetError(path, "holds a dict with no tensors in it")
        if any(k.lower().endswith(("weight", "bias", "running_mean")) for k in arrays):
            raise DatasetError(path, "holds model weights (a state dict), not a dataset")
        feats, labs, names_key = choose_keys(path, {k: tuple(v.shape) for k, v in arrays.items()})
        return arrays_to_dataset(path, arrays, feats, labs, names_key, ctx.phase(0.6, 1.0), names=names)
    if isinstance(obj, (tuple, list)) and len(obj) in (2, 3):
        x, y = _to_numpy(obj[0]), _to_numpy(obj[1])
        if x is None or y is None:
            raise DatasetError(path, "holds a tuple whose first two items are not (features, labels) tensors")
        names = _names(obj[2]) if len(obj) == 3 else None
        return arrays_to_dataset(path, {"x": x, "y": y}, ["x"], ["y"], None, ctx.phase(0.6, 1.0), names=names)
    if _to_numpy(obj) is not None:
        raise DatasetError(path, "holds a single tensor and no labels (save a dict with x and y, or a tuple (x, y))")
    raise DatasetError(path, f"holds a {type(obj).__name__}, not a dict or tuple of tensors")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:160] if text.strip() else ""


def load_safetensors(path: Path, ctx: LoadContext) -> Dataset:
    try:
        from safetensors import safe_open
    except ImportError:
        raise DatasetError(path, "needs the safetensors package to be read (pip install safetensors)") from None
    arrays: dict[str, np.ndarray] = {}
    try:
        with safe_open(str(path), framework="numpy") as f:
            shapes = {}
            dtypes = {}
            for key in f.keys():
                sl = f.get_slice(key)
                shapes[key] = tuple(int(d) for d in sl.get_shape())
                dtypes[key] = sl.get_dtype()
            metadata = f.metadata() or {}
            feats, labs, names_key = choose_keys(path, shapes)
            wanted = feats + labs + ([names_key] if names_key else [])
            need = sum(math.prod(shapes[k]) * (SAFETENSORS_ITEMSIZE.get(dtypes[k], 8) + 4) for k in wanted)
            require_memory(path, need, "its tensors")
            for i, key in enumerate(wanted):
                if dtypes[key] not in SAFETENSORS_ITEMSIZE:
                    raise DatasetError(path, f"holds {key} as {dtypes[key]}, which gpuviz does not read")
                arrays[key] = _bf16(path, key) if dtypes[key] == "BF16" else f.get_tensor(key)
                ctx.report(0.6 * (i + 1) / len(wanted), f"reading {key}")
    except DatasetError:
        raise
    except Exception as exc:  # noqa: BLE001 - SafetensorError and OSError: a damaged file
        raise DatasetError(path, f"is a damaged safetensors file ({_first_line(str(exc)) or type(exc).__name__})") \
            from None
    names = None
    raw = metadata.get("classes") or metadata.get("class_names")
    if raw:
        try:
            parsed = json.loads(raw)
            names = [str(v) for v in parsed] if isinstance(parsed, list) else None
        except ValueError:
            names = [v.strip() for v in raw.split(",")]
    return arrays_to_dataset(path, arrays, feats, labs, names_key, ctx.phase(0.6, 1.0), names=names)


def _bf16(path: Path, key: str) -> np.ndarray:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.get_tensor(key).float().numpy()
