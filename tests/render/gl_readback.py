"""Reading GL objects back to the host, to check what an upload path really wrote.

Uses the GL library directly (glvnd dispatches to the current context's vendor, EGL or
GLX), so it works whichever platform VisPy's context runs on. For tests only: never on
a display path.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

GL_ARRAY_BUFFER = 0x8892
GL_TEXTURE_2D = 0x0DE1
GL_RED = 0x1903
GL_RGBA = 0x1908
GL_FLOAT = 0x1406
GL_UNSIGNED_BYTE = 0x1401
GL_PACK_ALIGNMENT = 0x0D05

_FORMATS = {"r32f": (GL_RED, GL_FLOAT, 1, np.float32), "rgba8": (GL_RGBA, GL_UNSIGNED_BYTE, 4, np.uint8),
            "rgba32f": (GL_RGBA, GL_FLOAT, 4, np.float32)}
_lib = None


def _gl() -> Any:
    global _lib
    if _lib is None:
        for name in ("libOpenGL.so.0", "libGL.so.1"):
            try:
                _lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        else:
            raise OSError("no OpenGL library found")
    return _lib


def _handle(canvas: Any, gloo_object: Any) -> int:
    canvas.set_current()
    canvas.context.flush_commands()
    obj = canvas.context.shared.parser.get_object(gloo_object.id)
    if obj is None or not obj.handle:
        raise RuntimeError("the GL object does not exist yet (draw once first)")
    return int(obj.handle)


def read_buffer(canvas: Any, buffer: Any) -> bytes:
    """The bytes stored in a gloo VertexBuffer's GL buffer."""
    gl = _gl()
    handle = _handle(canvas, buffer)
    gl.glFinish()
    out = ctypes.create_string_buffer(buffer.nbytes)
    gl.glBindBuffer(GL_ARRAY_BUFFER, handle)
    gl.glGetBufferSubData(GL_ARRAY_BUFFER, ctypes.c_ssize_t(0), ctypes.c_ssize_t(buffer.nbytes), out)
    gl.glBindBuffer(GL_ARRAY_BUFFER, 0)
    return out.raw


def read_texture(canvas: Any, texture: Any, fmt: str) -> np.ndarray:
    """A 2-D texture's texels as (H, W[, C]) in the dtype of its sized format."""
    gl = _gl()
    handle = _handle(canvas, texture)
    gl_format, gl_type, channels, dtype = _FORMATS[fmt]
    h, w = texture.shape[:2]
    out = np.empty((h, w, channels), dtype)
    gl.glFinish()
    gl.glPixelStorei(GL_PACK_ALIGNMENT, 1)
    gl.glBindTexture(GL_TEXTURE_2D, handle)
    gl.glGetTexImage(GL_TEXTURE_2D, 0, gl_format, gl_type, out.ctypes.data_as(ctypes.c_void_p))
    gl.glBindTexture(GL_TEXTURE_2D, 0)
    return out[..., 0] if channels == 1 else out
