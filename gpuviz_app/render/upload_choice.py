"""Which upload path a canvas gets: CUDA–GL where it works, host staging otherwise.

Its own module because it needs both paths, while the CUDA–GL path builds on the host
path's declarations (`render.upload`).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from gpuviz_app.render.upload import HostUpload, UploadPath

log = logging.getLogger(__name__)


def choose_upload(canvas: Any, device: str, forced: str | None = None) -> UploadPath:
    """CUDA–GL when the tensors are on CUDA and the canvas's GL context is on that GPU and a
    trial registration works; otherwise host staging, with the reason why.

    `GPUVIZ_UPLOAD=host|cuda-gl` (or `forced`) forces a choice; a forced cuda-gl that cannot
    work says why on stderr and falls back, never crashes. Call with the canvas drawn once
    (its GL context exists).
    """
    forced = (forced or os.environ.get("GPUVIZ_UPLOAD", "")).strip().lower() or None
    if forced == "host":
        return HostUpload("host staging (forced by GPUVIZ_UPLOAD=host)")
    if not str(device).startswith("cuda"):
        reason = "training runs on the CPU"
    else:
        try:
            from gpuviz_app.render.cuda_gl import InteropUnavailable, try_cuda_gl

            try:
                return try_cuda_gl(canvas, device)
            except InteropUnavailable as exc:
                reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure means: use the host path
            reason = f"CUDA–GL set-up failed: {exc}"
    if forced == "cuda-gl":
        print(f"gpuviz: GPUVIZ_UPLOAD=cuda-gl cannot be used: {reason}; using host staging", file=sys.stderr)
    log.info("upload path: host staging (%s)", reason)
    return HostUpload(f"host staging: {reason}")
