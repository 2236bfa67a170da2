"""The one way Views write into their GL objects.

A View never calls `set_data` itself: it hands its fixed-size buffer or texture and a
tensor (or array) to the upload path chosen at start-up (`render.upload_choice`). The host
path stages through numpy; the CUDA-GL path (`render.cuda_gl`) copies device to device into
the same GL object.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_numpy(data: Any) -> np.ndarray:
    """A contiguous numpy view of a tensor or array (tensors are copied to the host)."""
    if hasattr(data, "detach"):
        data = data.detach()
        if data.device.type != "cpu":
            data = data.cpu()
        data = data.numpy()
    return np.ascontiguousarray(data)


class UploadPath:
    """How Views write into their GL objects; every member a caller uses is declared here.

    `write_buffer` offsets count elements (vertices), as VisPy's `set_subdata` does;
    `write_texture` offsets are (row, column) texels. Data has the GL object's dtype.
    `ViewCanvas.push` brackets a frame's writes with `begin_frame`/`end_frame`, so a path
    can batch them (the defaults do nothing); `close` releases what the path holds.
    """

    name = "upload"
    reason = ""

    def write_buffer(self, buffer: Any, data: Any, offset: int = 0) -> None:
        raise NotImplementedError

    def write_texture(self, texture: Any, data: Any, offset: tuple[int, ...] | None = None) -> None:
        raise NotImplementedError

    def begin_frame(self, snapshot: Any = None) -> None:
        """A frame's writes follow (`snapshot` carries the CUDA event they must wait on)."""

    def end_frame(self) -> None:
        """The frame's writes are all queued: a batching path performs them now."""

    def close(self) -> None:
        """Release registrations, streams or buffers the path holds."""


class HostUpload(UploadPath):
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
