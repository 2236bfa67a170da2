"""CUDA–OpenGL interop: CUDA tensors copied device-to-device into the Views' GL objects.

Each GL buffer or texture a View owns is registered with CUDA once (after VisPy created it,
i.e. after its first draw) and again only when VisPy re-allocates it. A frame's writes are
queued, then the frame maps all registered resources in one call on a dedicated upload
stream that first waits on the snapshot's CUDA event, copies each tensor from its
`data_ptr()`, and unmaps. `record_stream` keeps the caching allocator from reusing a
tensor's memory before the copy ran. Nothing crosses to the host.

Until an object has been created on the GL side (before its first draw) its writes go
through the host path; from then on the object is fed only by CUDA, because a later host
`set_data` would overwrite interop writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gpuviz_app.core.host_system import is_wsl
from gpuviz_app.render.upload import HostUpload, UploadPath, as_numpy

log = logging.getLogger(__name__)

GL_TEXTURE_2D = 0x0DE1
BROKEN_BINDINGS = ("12.9.3", "13.0.2")  # shipped with the graphics interop API disabled
SIZED_FORMATS = {"r32f": 4, "rgba8": 4, "rgba32f": 16}  # bytes per texel


class InteropUnavailable(RuntimeError):
    """Why CUDA–GL cannot be used here; shown to the user as the reason for host staging."""


def load_cudart() -> Any:
    """The runtime bindings, or InteropUnavailable saying why not."""
    try:
        import cuda.bindings
        from cuda.bindings import runtime as cudart
    except ImportError:
        raise InteropUnavailable("cuda-python is not installed (pip install 'gpuviz-app[cuda]')") from None
    version = getattr(cuda.bindings, "__version__", "")
    if version in BROKEN_BINDINGS:
        raise InteropUnavailable(f"cuda-bindings {version} shipped without the graphics interop API")
    return cudart


def check(result: tuple, what: str) -> tuple:
    """cuda-python returns (err, *values); raise on error, return the values."""
    err, *values = result
    if int(err) != 0:
        raise InteropUnavailable(f"{what} failed: {getattr(err, 'name', err)}")
    return tuple(values)


def gl_handle(canvas: Any, gloo_object: Any) -> int | None:
    """The GL name VisPy created for `gloo_object`, or None before it exists on the GL side."""
    parser = canvas.context.shared.parser
    obj = parser.get_object(gloo_object.id) if parser is not None else None
    handle = getattr(obj, "handle", None)
    return int(handle) if handle else None


def texture_format(texture: Any) -> str:
    fmt = (getattr(texture, "internalformat", None) or getattr(texture, "_internalformat", None) or "")
    return str(fmt).lower()


@dataclass
class _Registered:
    resource: Any
    handle: int
    size: tuple  # nbytes for buffers, (h, w, format) for textures
    is_texture: bool


@dataclass
class _Pending:
    target: Any
    tensor: Any
    offset: Any


class CudaGLUpload(UploadPath):
    """The `cuda-gl` upload path. Create it with `try_cuda_gl`, which checks it can work."""

    name = "cuda-gl"

    def __init__(self, canvas: Any, device: Any, cudart: Any) -> None:
        import torch

        self.canvas = canvas
        self.device = torch.device(device)
        self.cudart = cudart
        self.stream = torch.cuda.Stream(self.device)
        self.reason = f"CUDA–GL interop on {torch.cuda.get_device_name(self.device)}"
        self.host = HostUpload("before the GL object exists")
        self.bytes_uploaded = 0
        self.host_bytes = 0
        self._registered: dict[int, _Registered] = {}
        self._pending: list[_Pending] = []
        self._event = None
        self._in_frame = False
        self.keep_last = False  # tests: remember what each object last received
        self.last_written: dict[int, tuple[Any, Any]] = {}

    # -- frame protocol (ViewCanvas.push calls these around the Views' updates) ----------
    def begin_frame(self, snapshot: Any = None) -> None:
        self._event = getattr(snapshot, "event", None)
        self._in_frame = True

    def end_frame(self) -> None:
        self._in_frame = False
        self._flush()

    def write_buffer(self, buffer: Any, data: Any, offset: int = 0) -> None:
        self._write(buffer, data, offset)

    def write_texture(self, texture: Any, data: Any, offset: tuple[int, ...] | None = None) -> None:
        self._write(texture, data, offset)

    # -- internals ---------------------------------------------------------------------------
    def _write(self, target: Any, data: Any, offset: Any) -> None:
        is_cuda = getattr(getattr(data, "device", None), "type", None) == "cuda"
        if not is_cuda:
            if target.id not in self._registered:
                self._host_write(target, data, offset)
                return
            # Interop-fed objects stay interop-fed: a host set_data queued in VisPy would
            # later overwrite CUDA's writes. Host data goes up to the device first.
            import torch

            data = torch.as_tensor(as_numpy(data)).to(self.device)
            self.host_bytes += data.numel() * data.element_size()
        elif gl_handle(self.canvas, target) is None:
            self._host_write(target, data, offset)  # not created on the GL side yet
            return
        self._pending.append(_Pending(target, data, offset))
        if not self._in_frame:
            self._flush()

    def _host_write(self, target: Any, data: Any, offset: Any) -> None:
        if hasattr(target, "set_subdata"):
            self.host.write_buffer(target, data, offset or 0)
        else:
            self.host.write_texture(target, data, offset)
        self.host_bytes += self.host.bytes_uploaded
        self.host.bytes_uploaded = 0

    def _register(self, target: Any) -> _Registered:
        handle = gl_handle(self.canvas, target)
        is_texture = not hasattr(target, "set_subdata")
        if is_texture:
            fmt = texture_format(target)
            if fmt not in SIZED_FORMATS:
                raise InteropUnavailable(f"texture format {fmt or 'unsized'} cannot be registered (use r32f/rgba8/rgba32f)")
            size = (*target.shape[:2], fmt)
        else:
            size = (target.nbytes,)
        known = self._registered.get(target.id)
        if known is not None and known.handle == handle and known.size == size:
            return known
        if known is not None:  # VisPy re-allocated it (resize): register the new storage
            check(self.cudart.cudaGraphicsUnregisterResource(known.resource), "cudaGraphicsUnregisterResource")
        flags = self.cudart.cudaGraphicsRegisterFlags.cudaGraphicsRegisterFlagsNone
        if is_texture:
            (resource,) = check(self.cudart.cudaGraphicsGLRegisterImage(handle, GL_TEXTURE_2D, flags),
                                "cudaGraphicsGLRegisterImage")
        else:
            (resource,) = check(self.cudart.cudaGraphicsGLRegisterBuffer(handle, flags),
                                "cudaGraphicsGLRegisterBuffer")
        entry = _Registered(resource, handle, size, is_texture)
        self._registered[target.id] = entry
        return entry

    def _stream_handle(self) -> Any:
        try:
            return self.cudart.cudaStream_t(self.stream.cuda_stream)
        except TypeError:
            return self.stream.cuda_stream

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self.canvas.set_current()
        self.canvas.context.flush_commands()  # VisPy's queued GL work happens before CUDA maps
        entries = [self._register(p.target) for p in pending]
        unique = list({id(e): e for e in entries}.values())
        if self._event is not None:
            self.stream.wait_event(self._event)
        stream = self._stream_handle()
        resources = [e.resource for e in unique]
        check(self.cudart.cudaGraphicsMapResources(len(resources), resources if len(resources) > 1
                                                   else resources[0], stream), "cudaGraphicsMapResources")
        try:
            for item, entry in zip(pending, entries):
                self._copy(item, entry, stream)
        finally:
            check(self.cudart.cudaGraphicsUnmapResources(len(resources), resources if len(resources) > 1
                                                         else resources[0], stream), "cudaGraphicsUnmapResources")

    def _copy(self, item: _Pending, entry: _Registered, stream: Any) -> None:
        tensor = item.tensor.detach()
        if not tensor.is_contiguous():
            import torch

            with torch.cuda.stream(self.stream):
                tensor = tensor.contiguous()
        tensor.record_stream(self.stream)
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToDevice
        nbytes = tensor.numel() * tensor.element_size()
        if not entry.is_texture:
            ptr, size = check(self.cudart.cudaGraphicsResourceGetMappedPointer(entry.resource),
                              "cudaGraphicsResourceGetMappedPointer")
            offset = int(item.offset or 0) * item.target.itemsize  # offsets count elements, as in VisPy
            if offset + nbytes > size:
                raise InteropUnavailable(f"{nbytes} bytes do not fit a {size}-byte buffer at offset {offset}")
            check(self.cudart.cudaMemcpyAsync(int(ptr) + offset, tensor.data_ptr(), nbytes, kind, stream),
                  "cudaMemcpyAsync")
        else:
            (array,) = check(self.cudart.cudaGraphicsSubResourceGetMappedArray(entry.resource, 0, 0),
                             "cudaGraphicsSubResourceGetMappedArray")
            h, w = tensor.shape[0], tensor.shape[1]
            row = nbytes // h
            texel = SIZED_FORMATS[entry.size[2]]
            if row != w * texel:
                raise InteropUnavailable(f"tensor rows of {row} bytes do not match {w} texels of {texel} bytes")
            y, x = (item.offset or (0, 0))[:2]
            check(self.cudart.cudaMemcpy2DToArrayAsync(array, x * texel, y, tensor.data_ptr(), row, row, h,
                                                      kind, stream), "cudaMemcpy2DToArrayAsync")
        self.bytes_uploaded += nbytes
        if self.keep_last:
            self.last_written[item.target.id] = (item.target, tensor)

    def close(self) -> None:
        for entry in self._registered.values():
            try:
                self.cudart.cudaGraphicsUnregisterResource(entry.resource)
            except Exception:  # noqa: BLE001 - closing must not raise
                pass
        self._registered.clear()


def gl_on_cuda_device(cudart: Any, device_index: int) -> bool:
    """Whether the current GL context runs on CUDA device `device_index` (cudaGLGetDevices)."""
    err, count, devices = cudart.cudaGLGetDevices(16, cudart.cudaGLDeviceList.cudaGLDeviceListAll)
    if int(err) != 0:
        raise InteropUnavailable(f"the GL context is not on an NVIDIA GPU ({getattr(err, 'name', err)})")
    return device_index in list(devices)[: int(count)]


def try_cuda_gl(canvas: Any, device: Any) -> CudaGLUpload:
    """A working CUDA–GL path for `canvas` (its GL context current), or InteropUnavailable."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        raise InteropUnavailable("training runs on the CPU")
    if is_wsl():
        raise InteropUnavailable("CUDA–GL interop is not supported under WSL")
    cudart = load_cudart()
    canvas.set_current()
    renderer = _gl_renderer()
    index = device.index if device.index is not None else torch.cuda.current_device()
    if not gl_on_cuda_device(cudart, index):
        raise InteropUnavailable(f"the GL context ({renderer}) is not on the training GPU cuda:{index}")
    upload = CudaGLUpload(canvas, device, cudart)
    _trial_registration(upload)
    return upload


def _trial_registration(upload: CudaGLUpload) -> None:
    """Register, write and release a small buffer: proves the whole path before Views rely on it."""
    import numpy as np
    import torch
    from vispy import gloo

    probe = gloo.VertexBuffer(np.zeros((4, 4), np.float32))
    upload.canvas.context.glir.associate(probe.glir)
    upload.canvas.context.flush_commands()
    if gl_handle(upload.canvas, probe) is None:
        raise InteropUnavailable("VisPy did not create the GL buffer")
    upload.write_buffer(probe, torch.ones((4, 4), device=upload.device))
    upload.stream.synchronize()
    entry = upload._registered.pop(probe.id)
    check(upload.cudart.cudaGraphicsUnregisterResource(entry.resource), "cudaGraphicsUnregisterResource")
    probe.delete()


def _gl_renderer() -> str:
    try:
        from vispy.gloo import gl

        return str(gl.glGetParameter(gl.GL_RENDERER))
    except Exception:  # noqa: BLE001
        return "unknown renderer"
