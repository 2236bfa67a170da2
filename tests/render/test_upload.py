"""The upload interface: host staging everywhere, the choice of path, and GL readback."""

import numpy as np
import pytest
from vispy import gloo, scene

from gpuviz_app.render.gl_readback import read_buffer, read_texture
from gpuviz_app.render.upload import HostUpload, as_numpy, choose_upload


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


def test_cuda_device_without_interop_falls_back_without_crashing(canvas):
    """Here (no CUDA, or software GL, or no cuda-python) a CUDA device still gets a working path."""
    from tests.conftest import has_cuda

    upload = choose_upload(canvas, "cuda:0")
    if not has_cuda():
        assert upload.name == "host" and upload.reason.startswith("host staging:")
