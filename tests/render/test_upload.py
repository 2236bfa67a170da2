"""The upload interface: host staging everywhere, the choice of path, and GL readback."""

import numpy as np
import pytest
from vispy import gloo, scene

from tests.render.gl_readback import read_buffer, read_texture
from gpuviz_app.render.upload import HostUpload, UploadPath, as_numpy
from gpuviz_app.render.upload_choice import choose_upload
from tests.conftest import has_cuda


@pytest.fixture
def canvas(egl_app):
    c = scene.SceneCanvas(size=(64, 64), app=egl_app, show=False)
    c.render()
    yield c
    c.close()


def test_as_numpy_copies_tensors_to_the_host():
    import torch

    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    a = as_numpy(t)
    assert isinstance(a, np.ndarray) and a.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(a, t.numpy())
    np.testing.assert_array_equal(as_numpy(t.t()), t.t().numpy())


def test_host_buffer_write_lands_in_gl(canvas):
    upload = HostUpload()
    buffer = gloo.VertexBuffer(np.zeros((256, 2), np.float32))
    canvas.context.glir.associate(buffer.glir)
    data = np.random.default_rng(0).normal(size=(128, 2)).astype(np.float32)
    upload.write_buffer(buffer, data, offset=128)  # in vertices
    raw = np.frombuffer(read_buffer(canvas, buffer), np.float32).reshape(256, 2)
    np.testing.assert_array_equal(raw[128:], data)
    assert not raw[:128].any()
    assert upload.bytes_uploaded == data.nbytes


@pytest.mark.parametrize("fmt,dtype,shape", [("r32f", np.float32, (8, 12)), ("rgba8", np.uint8, (8, 12, 4)),
                                             ("rgba32f", np.float32, (8, 12, 4))])
def test_host_texture_write_lands_in_gl(canvas, fmt, dtype, shape):
    upload = HostUpload()
    texture = gloo.Texture2D(np.zeros(shape, dtype), internalformat=fmt)
    canvas.context.glir.associate(texture.glir)
    rng = np.random.default_rng(1)
    data = (rng.random(shape) * (255 if dtype == np.uint8 else 1)).astype(dtype)
    upload.write_texture(texture, data)
    np.testing.assert_array_equal(read_texture(canvas, texture, fmt), data)


def test_texture_write_of_the_wrong_shape_is_refused(canvas):
    texture = gloo.Texture2D(np.zeros((4, 4), np.float32), internalformat="r32f")
    with pytest.raises(ValueError):
        HostUpload().write_texture(texture, np.zeros((5, 4), np.float32))


def test_cpu_training_uses_the_host_path_and_says_why(canvas):
    upload = choose_upload(canvas, "cpu")
    assert upload.name == "host" and "CPU" in upload.reason


def test_forcing_host_is_obeyed(canvas, monkeypatch):
    monkeypatch.setenv("GPUVIZ_UPLOAD", "host")
    upload = choose_upload(canvas, "cuda:0")
    assert upload.name == "host" and "GPUVIZ_UPLOAD=host" in upload.reason


def test_forcing_cuda_gl_where_it_cannot_work_falls_back_with_the_reason(canvas, monkeypatch, capsys):
    monkeypatch.setenv("GPUVIZ_UPLOAD", "cuda-gl")
    upload = choose_upload(canvas, "cpu")
    assert upload.name == "host"
    assert "GPUVIZ_UPLOAD=cuda-gl cannot be used" in capsys.readouterr().err


def test_a_failing_interop_set_up_falls_back_to_host_with_its_reason(canvas, monkeypatch):
    """Whatever the machine: when CUDA–GL refuses, a CUDA device still gets a working path."""
    from gpuviz_app.render import cuda_gl

    def refuse(canvas, device):
        raise cuda_gl.InteropUnavailable("the GL context is not on the training GPU")

    monkeypatch.setattr(cuda_gl, "try_cuda_gl", refuse)
    upload = choose_upload(canvas, "cuda:0")
    assert isinstance(upload, HostUpload)
    assert upload.reason == "host staging: the GL context is not on the training GPU"


def test_an_unexpected_interop_error_falls_back_to_host(canvas, monkeypatch):
    from gpuviz_app.render import cuda_gl

    def crash(canvas, device):
        raise OSError("driver exploded")

    monkeypatch.setattr(cuda_gl, "try_cuda_gl", crash)
    upload = choose_upload(canvas, "cuda:0")
    assert upload.name == "host" and "CUDA–GL set-up failed: driver exploded" in upload.reason


@pytest.mark.skipif(has_cuda(), reason="the machine has CUDA: see the gpu test below")
def test_without_cuda_a_cuda_device_gets_the_host_path_and_says_why(canvas):
    upload = choose_upload(canvas, "cuda:0")
    assert upload.name == "host" and upload.reason.startswith("host staging:")


@pytest.mark.gpu
def test_with_cuda_and_gl_on_that_gpu_the_interop_path_is_chosen(canvas):
    """The render conftest puts EGL on cuda:0's device, so interop must work here."""
    from gpuviz_app.render.cuda_gl import CudaGLUpload

    upload = choose_upload(canvas, "cuda:0")
    try:
        assert isinstance(upload, CudaGLUpload), upload.reason
        assert upload.name == "cuda-gl" and upload.reason.startswith("CUDA–GL interop on ")
    finally:
        upload.close()


def test_every_upload_path_declares_the_frame_protocol():
    """ViewCanvas calls these on any path; the base class makes them no-ops."""
    host = HostUpload()
    for member in ("begin_frame", "end_frame", "close"):
        assert getattr(type(host), member) is getattr(UploadPath, member)
    host.begin_frame(None)
    host.end_frame()
    host.close()
    from gpuviz_app.render.cuda_gl import CudaGLUpload

    assert issubclass(CudaGLUpload, UploadPath)
    assert CudaGLUpload.begin_frame is not UploadPath.begin_frame  # interop batches a frame's writes
    assert CudaGLUpload.end_frame is not UploadPath.end_frame
