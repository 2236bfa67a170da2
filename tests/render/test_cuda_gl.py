"""CUDA–GL interop, checked on an NVIDIA GPU: what lands in GL is exactly the tensor's bytes,
for every kind of GL object the views use, with no host copy on the way.

All tests here are marked `gpu` and skip without CUDA; `scripts/gpu-check` runs them.
"""

import numpy as np
import pytest
from vispy import gloo, scene

from tests.render.gl_readback import read_buffer, read_texture

pytestmark = pytest.mark.gpu


@pytest.fixture
def interop(egl_app):
    import torch

    from gpuviz_app.render.cuda_gl import try_cuda_gl

    canvas = scene.SceneCanvas(size=(64, 64), app=egl_app, show=False)
    canvas.render()
    upload = try_cuda_gl(canvas, torch.device("cuda", 0))
    yield canvas, upload
    upload.close()
    canvas.close()


def _created(canvas, obj):
    canvas.context.glir.associate(obj.glir)
    canvas.context.flush_commands()
    return obj


def test_buffer_bytes_equal_the_tensor(interop):
    import torch

    canvas, upload = interop
    buffer = _created(canvas, gloo.VertexBuffer(np.zeros((1000, 3), np.float32)))
    tensor = torch.randn(1000, 3, device="cuda")
    upload.write_buffer(buffer, tensor)
    upload.stream.synchronize()
    assert read_buffer(canvas, buffer) == tensor.cpu().numpy().tobytes()
    assert upload.host_bytes == 0


@pytest.mark.parametrize("fmt,shape,dtype", [("r32f", (33, 47), "float32"), ("rgba8", (16, 20, 4), "uint8"),
                                             ("rgba32f", (9, 11, 4), "float32")])
def test_texture_texels_equal_the_tensor(interop, fmt, shape, dtype):
    import torch

    canvas, upload = interop
    texture = _created(canvas, gloo.Texture2D(np.zeros(shape, dtype), internalformat=fmt))
    if dtype == "uint8":
        tensor = torch.randint(0, 256, shape, device="cuda", dtype=torch.uint8)
    else:
        tensor = torch.randn(*shape, device="cuda")
    upload.write_texture(texture, tensor)
    upload.stream.synchronize()
    np.testing.assert_array_equal(read_texture(canvas, texture, fmt), tensor.cpu().numpy())


def test_resize_re_registers(interop):
    import torch

    canvas, upload = interop
    buffer = _created(canvas, gloo.VertexBuffer(np.zeros((10, 2), np.float32)))
    upload.write_buffer(buffer, torch.ones(10, 2, device="cuda"))
    buffer.set_data(np.zeros((50, 2), np.float32))  # VisPy re-allocates
    canvas.context.flush_commands()
    tensor = torch.randn(50, 2, device="cuda")
    upload.write_buffer(buffer, tensor)
    upload.stream.synchronize()
    assert read_buffer(canvas, buffer) == tensor.cpu().numpy().tobytes()


@pytest.fixture(scope="module")
def cuda_snapshot():
    """A snapshot of a CUDA training run with every probe the registered views read."""
    from gpuviz_app.core.probes import probe_factories
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.builtin import digits
    from gpuviz_app.render.views import VIEW_CLASSES

    probes = probe_factories({cls.probe for cls in VIEW_CLASSES.values() if cls.probe})
    session = TrainingSession(digits, device="cuda", max_steps=60, probes=probes)
    session.advance(30)
    return session.advance(30)


def test_every_view_is_fed_by_interop_with_no_host_copy(egl_app, cuda_snapshot, monkeypatch):
    """Each probe-fed view's GL objects receive the tensors' exact bytes, and updating them
    never copies a tensor to the host (Tensor.cpu/numpy/item/tolist raise during the update).
    The metrics view is left out: its history lives on the host by design."""
    import torch

    from gpuviz_app.render.canvas import ViewCanvas
    from gpuviz_app.render.views import VIEW_CLASSES, make_view

    fed_by_probes = [name for name, cls in VIEW_CLASSES.items() if cls.probe]
    assert fed_by_probes
    for name in fed_by_probes:
        canvas = ViewCanvas([make_view(name)], size=(320, 240), app=egl_app)
        canvas.settle()
        upload = canvas.configure_upload(cuda_snapshot.device)
        assert upload.name == "cuda-gl", upload.reason
        canvas.push(cuda_snapshot)  # first push may stage through the host (objects not created yet)
        canvas.render()
        upload.keep_last = True
        upload.last_written.clear()
        upload.host_bytes = 0

        def refuse(*args, **kwargs):
            raise AssertionError("a tensor was copied to the host during an interop update")

        with monkeypatch.context() as m:
            for attr in ("cpu", "numpy", "item", "tolist"):
                m.setattr(torch.Tensor, attr, refuse)
            canvas.views[0]._run_id = -1  # force every view to re-upload everything
            canvas.push(cuda_snapshot)
        upload.stream.synchronize()
        assert upload.host_bytes == 0, name
        assert upload.last_written, f"{name}: nothing was written through interop"
        for target, tensor in upload.last_written.values():
            expected = tensor.contiguous().cpu().numpy()
            if hasattr(target, "set_subdata"):
                assert read_buffer(canvas, target)[: expected.nbytes] == expected.tobytes(), name
            else:
                from gpuviz_app.render.cuda_gl import texture_format

                got = read_texture(canvas, target, texture_format(target))
                np.testing.assert_array_equal(got.reshape(expected.shape), expected, err_msg=name)
        canvas.close()
