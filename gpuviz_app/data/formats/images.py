"""Folders of images in class subfolders, through Pillow.

Two passes: the first reads only headers (size, colour mode) to choose one shape for the
whole set and to size the array before allocating it; the second decodes each image
straight into its slot. Files that cannot be read are skipped and counted.
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats.arrays import build_dataset
from gpuviz_app.data.formats.context import LoadContext, require_memory

GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
WIDE_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_SHOWN = 3  # names of skipped files listed in the warning


def _is_gray(image) -> bool:
    if image.mode in GRAY_MODES:
        return True
    if image.mode in ("P", "PA"):
        palette = image.getpalette() or []
        rgb = np.asarray(palette[: len(palette) // 3 * 3], np.int32).reshape(-1, 3)
        return bool(len(rgb) and (rgb == rgb[:, :1]).all())
    return False


def choose_size(sizes: Sequence[tuple[int, int]], max_side: int) -> tuple[int, int]:
    """(width, height): the most common size when most images share it, else the median of each side,
    scaled down so the longer side is at most `max_side`."""
    (w, h), count = Counter(sizes).most_common(1)[0]
    if count < len(sizes) / 2:
        w = int(statistics.median(s[0] for s in sizes))
        h = int(statistics.median(s[1] for s in sizes))
    scale = min(1.0, max_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _to_mode(image, gray: bool):
    from PIL import Image

    if image.mode in WIDE_MODES:
        a = np.asarray(image, dtype=np.float32)
        top = 1.0 if image.mode == "F" and a.max(initial=0) <= 1 else 65535.0 if a.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(a * (255.0 / top), 0, 255).astype(np.uint8), "L")
    want = "L" if gray else "RGB"
    return image if image.mode == want else image.convert(want)


def load_image_files(root: Path, files: Sequence[tuple[Path, int]], classes: list[str], ctx: LoadContext,
                     ignored: int = 0, warnings: Sequence[str] = ()) -> Dataset:
    """`files` pairs each image path with its class index."""
    import warnings as python_warnings

    with python_warnings.catch_warnings():  # damaged files make Pillow warn: they are counted instead
        python_warnings.simplefilter("ignore")
        return _load_image_files(root, files, classes, ctx, ignored, list(warnings))


def _load_image_files(root: Path, files: Sequence[tuple[Path, int]], classes: list[str], ctx: LoadContext,
                      ignored: int, warnings: list[str]) -> Dataset:
    from PIL import Image

    if not files:
        raise DatasetError(root, "holds class folders but no image files in them")
    headers: list[tuple[Path, int, tuple[int, int]]] = []
    broken: list[Path] = []
    gray = True
    modes: set[str] = set()
    head = ctx.phase(0.0, 0.25)
    for i, (path, label) in enumerate(files):
        try:
            with Image.open(path) as image:
                size = image.size
                if size[0] < 1 or size[1] < 1 or size[0] * size[1] > Image.MAX_IMAGE_PIXELS:
                    raise ValueError("bad size")
                gray = gray and _is_gray(image)
                modes.add(image.mode)
            headers.append((path, label, size))
        except Exception:  # noqa: BLE001 - any unreadable file is skipped and counted
            broken.append(path)
        head.report((i + 1) / len(files), "reading image headers")
    if not headers:
        raise DatasetError(root, f"holds {len(files):,} image files and none of them could be read "
                                 f"(first: {files[0][0].name})")
    if ctx.options.image_size:
        height, width = ctx.options.image_size
    else:
        width, height = choose_size([h[2] for h in headers], ctx.options.image_max_side)
    channels = 1 if gray else 3
    n = len(headers)
    require_memory(root, n * channels * height * width * 4, f"{n:,} images of {width}x{height}")
    out = np.empty((n, channels, height, width), np.float32)
    y = np.empty(n, np.int64)
    k = 0
    body = ctx.phase(0.25, 1.0)
    for i, (path, label, size) in enumerate(headers):
        try:
            with Image.open(path) as image:
                if image.format == "JPEG":
                    image.draft("L" if gray else "RGB", (width, height))
                image = _to_mode(image, gray)
                if image.size != (width, height):
                    image = image.resize((width, height), Image.Resampling.BILINEAR)
                pixels = np.asarray(image, dtype=np.uint8)
        except Exception:  # noqa: BLE001 - truncated or corrupt data shows only when decoding
            broken.append(path)
        else:
            np.multiply(pixels[None] if gray else pixels.transpose(2, 0, 1), np.float32(1 / 255), out=out[k])
            y[k] = label
            k += 1
        body.report((i + 1) / n, "decoding images")
    if k == 0:
        raise DatasetError(root, f"holds {len(files):,} image files and none of them could be decoded "
                                 f"(first: {files[0][0].name})")
    if k < n:
        out, y = out[:k].copy(), y[:k]
    sizes = {h[2] for h in headers}
    if len(sizes) > 1 or (width, height) not in sizes:
        warnings.append(f"images of {len(sizes)} size(s) were resized to {width}x{height}")
    if len(modes) > 1:
        warnings.append(f"colour modes {', '.join(sorted(modes))} were converted to {'L' if gray else 'RGB'}")
    if broken:
        names = ", ".join(_relative(root, p) for p in broken[:_SHOWN])
        more = f" and {len(broken) - _SHOWN} more" if len(broken) > _SHOWN else ""
        warnings.append(f"skipped {len(broken)} unreadable file(s): {names}{more}")
    if ignored:
        warnings.append(f"ignored {ignored} file(s) that are not images")
    ctx.report(1.0)
    return build_dataset(root, out, y, classes, "images", ctx, name=root.name or str(root), skipped=len(broken),
                         warnings=warnings)


def _relative(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name

