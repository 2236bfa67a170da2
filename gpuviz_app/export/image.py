"""Image export: PNG with the run's context (step, loss, dataset) in its text chunks, or JPEG
when the file name asks for it; any other suffix is refused before any work."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np
from PIL import Image, PngImagePlugin

from gpuviz_app.export.atomic import atomic_path


IMAGE_TYPES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


class ImageFormatError(ValueError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: unsupported image type {path.suffix or '(none)'!r}; use .png, .jpg or .jpeg")
        self.path = path


def image_format(path: str | os.PathLike) -> str:
    """The Pillow format `path`'s suffix asks for; raises `ImageFormatError` for any other."""
    path = Path(path)
    try:
        return IMAGE_TYPES[path.suffix.lower()]
    except KeyError:
        raise ImageFormatError(path) from None


def save_image(pixels: np.ndarray, path: str | os.PathLike, metadata: Mapping[str, object] | None = None,
               overwrite: bool = False) -> None:
    """`pixels` as the image type `path`'s suffix names (.png, .jpg, .jpeg), written atomically.

    JPEG has no alpha: transparent pixels are laid over white. Metadata goes into PNG text
    chunks and the JPEG comment.
    """
    fmt = image_format(path)
    if fmt == "PNG":
        save_png(pixels, path, metadata, overwrite)
        return
    image = Image.fromarray(np.ascontiguousarray(pixels))
    if image.mode == "RGBA":
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(image, mask=image.getchannel("A"))
        image = white
    comment = "; ".join(f"{k}={v}" for k, v in (metadata or {}).items()).encode()
    with atomic_path(path, overwrite=overwrite) as tmp:
        image.convert("RGB").save(tmp, format="JPEG", quality=92, comment=comment)


def save_png(pixels: np.ndarray, path: str | os.PathLike, metadata: Mapping[str, object] | None = None,
             overwrite: bool = False) -> None:
    """Write RGBA or RGB uint8 pixels as a PNG atomically, with `metadata` as text chunks.

    An existing file is replaced only with `overwrite` (raises `OutputExists` otherwise).
    """
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_text(str(key), str(value))
    image = Image.fromarray(np.ascontiguousarray(pixels))
    with atomic_path(path, overwrite=overwrite) as tmp:
        image.save(tmp, format="PNG", pnginfo=info)


def snapshot_metadata(snapshot) -> dict[str, object]:
    """What a picture of a run should remember about it."""
    from gpuviz_app import __version__

    meta: dict[str, object] = {"Software": f"gpuviz {__version__}"}
    if snapshot is not None:
        meta["gpuviz:step"] = snapshot.step
        meta["gpuviz:dataset"] = snapshot.dataset
        meta["gpuviz:model"] = snapshot.model
        for key, value in snapshot.latest.items():
            meta[f"gpuviz:{key}"] = f"{value:.6g}"
    return meta
