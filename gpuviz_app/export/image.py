"""PNG export with the run's context (step, loss, dataset) in the file's text chunks."""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
from PIL import Image, PngImagePlugin

from gpuviz_app.export.atomic import atomic_path


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
