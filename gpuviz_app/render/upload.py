"""The one way Views write into their GL objects.

A View never calls `set_data` itself: it hands its fixed-size buffer or texture and a
tensor (or array) to the upload path chosen at start-up. The host path stages through
numpy; the CUDA-GL path copies device to device into the same GL object.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


def as_numpy(data: Any) -> np.ndarray:
    """A contiguous numpy view of a tensor or array (tensors are copied to the host)."""
    if hasattr(data, "detach"):
        data = data.detach()
        if data.device.type != "cpu":
            data = data.cpu()
        data = data.numpy()
    return np.ascontiguousarray(data)


class UploadPath(Protocol):
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


def host_upload(reason: str = "host staging (default)") -> HostUpload:
    return HostUpload(reason)
