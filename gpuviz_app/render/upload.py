"""The one way Views write into their GL objects.

A View never calls `set_data` itself: it hands its fixed-size buffer or texture and a
tensor (or array) to the upload path chosen at start-up. The host path stages through
numpy; the CUDA-GL path copies device to device into the same GL object.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)


def as_numpy(data: Any) -> np.ndarray:
    """A contiguous numpy view of a tensor or array (tensors are copied to the host)."""
    if hasattr(data, "detach"):
        data = data.detach()
        if data.device.type != "cpu":
            data = data.cpu()
        data = data.numpy()
    return np.ascontiguousarray(data)


class UploadPath(Protocol):
    """`write_buffer` offsets count elements (vertices), as VisPy's `set_subdata` does;
    `write_texture` offsets are (row, column) texels. Data has the GL object's dtype."""

    name: str
    reason: str

    def write_buffer(self, buffer: Any, data: Any, offset: int = 0) -> None: ...

    def write_texture(self, texture: Any, data: Any, offset: tuple[int, ...] | None = None) -> None: ...


class HostUpload:
    """Tensor -> numpy -> glBufferSubData / glTexSubImage on the GUI thread."""

    name = "host"

    def __init__(self, reason: str = "host staging (default)") -> None:
        self.reason = reason
        self.bytes_uploaded = 0

    def write_buffer(self, buffer: Any, data: Any, offset: int = 0) -> None:
        array = as_numpy(data)
        if array.dtype != buffer.dtype.base and buffer.dtype.names is None:
            array = array.astype(buffer.dtype.base)
        buffer.set_subdata(array, offset=offset)
        self.bytes_uploaded += array.nbytes

    def write_texture(self, texture: Any, data: Any, offset: tuple[int, ...] | None = None) -> None:
        array = as_numpy(data)
        if offset is None:
            offset = (0,) * (len(texture.shape) - 1)
            if tuple(array.shape[: len(offset)]) != tuple(texture.shape[: len(offset)]):
                raise ValueError(f"texture holds {texture.shape[:len(offset)]}, data is {array.shape}")
        texture.set_data(array, offset=offset)
        self.bytes_uploaded += array.nbytes


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
        import sys

        print(f"gpuviz: GPUVIZ_UPLOAD=cuda-gl cannot be used: {reason}; using host staging", file=sys.stderr)
    log.info("upload path: host staging (%s)", reason)
    return HostUpload(f"host staging: {reason}")
