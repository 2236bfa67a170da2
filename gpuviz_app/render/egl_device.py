"""Headless EGL on an NVIDIA GPU: pick the EGL device that is the training CUDA device.

With several GPUs, EGL's default display may sit on a different GPU than the tensors,
which rules out interop. EGL_EXT_device_enumeration lists the devices and
EGL_NV_device_cuda tells each one's CUDA ordinal; the matching device's platform display
is handed to VisPy's EGL backend in place of the default display.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any

log = logging.getLogger(__name__)

EGL_PLATFORM_DEVICE_EXT = 0x313F
EGL_CUDA_DEVICE_NV = 0x323A


def _proc(lib: Any, name: str, restype: Any, *argtypes: Any) -> Any:
    get = lib.eglGetProcAddress
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.c_char_p]
    address = get(name.encode())
    if not address:
        return None
    return ctypes.CFUNCTYPE(restype, *argtypes)(address)


def cuda_egl_display(cuda_index: int) -> int | None:
    """The EGLDisplay (as an int) of the EGL device whose CUDA ordinal is `cuda_index`."""
    try:
        lib = ctypes.CDLL("libEGL.so.1")
    except OSError:
        return None
    query_devices = _proc(lib, "eglQueryDevicesEXT", ctypes.c_uint, ctypes.c_int,
                          ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int))
    query_attrib = _proc(lib, "eglQueryDeviceAttribEXT", ctypes.c_uint, ctypes.c_void_p, ctypes.c_int,
                         ctypes.POINTER(ctypes.c_ssize_t))
    platform_display = _proc(lib, "eglGetPlatformDisplayEXT", ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p,
                             ctypes.c_void_p)
    if not (query_devices and query_attrib and platform_display):
        return None
    count = ctypes.c_int(0)
    if not query_devices(0, None, ctypes.byref(count)) or count.value == 0:
        return None
    devices = (ctypes.c_void_p * count.value)()
    if not query_devices(count.value, devices, ctypes.byref(count)):
        return None
    for device in devices[: count.value]:
        value = ctypes.c_ssize_t(-1)
        if query_attrib(device, EGL_CUDA_DEVICE_NV, ctypes.byref(value)) and value.value == cuda_index:
            display = platform_display(EGL_PLATFORM_DEVICE_EXT, device, None)
            return int(display) if display else None
    return None


def route_vispy_egl_to(display: int) -> None:
    """Make VisPy's EGL backend use `display` (must run before the backend is imported)."""
    from vispy.ext import egl

    egl.eglGetDisplay = lambda *args: ctypes.c_void_p(display)
