"""A CUDA payload received from another process as an IPC handle goes into a GL buffer
device-to-device, byte-exact (read back through GL), with no host copy. Marked `gpu`."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from vispy import gloo, scene

from tests.render.gl_readback import read_buffer

pytestmark = pytest.mark.gpu

REPO = Path(__file__).resolve().parents[2]
SENDER = REPO / "tests" / "sources" / "ipc_sender.py"
WAIT_S = 120.0


def test_an_ipc_payload_lands_in_a_gl_buffer_byte_exact(egl_app):
    import torch

    from gpuviz_app.render.cuda_gl import try_cuda_gl
    from gpuviz_app.sources.remote import Listener
    from tests.sources.ipc_sender import SIDE, expected_grid

    folder = tempfile.mkdtemp(prefix="gv")
    address = f"ipc://{folder}/w.sock"
    grids = []
    listener = Listener(address, on_message=lambda run: grids.append(run.latest.parts["landscape"].grid))
    sender = subprocess.Popen([sys.executable, str(SENDER), address, "1", "cuda"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert sender.stdout.readline(), sender.stderr.read()[-2000:]
        assert listener.wait_for(lambda ls: grids, WAIT_S)
        grid = grids[0]
        assert isinstance(grid, torch.Tensor) and grid.is_cuda, "the payload did not arrive as a CUDA tensor"
        canvas = scene.SceneCanvas(size=(64, 64), app=egl_app, show=False)
        canvas.render()
        upload = try_cuda_gl(canvas, grid.device)
        try:
            buffer = gloo.VertexBuffer(np.zeros((SIDE * SIDE // 4, 4), np.float32))
            canvas.context.glir.associate(buffer.glir)
            canvas.context.flush_commands()
            upload.write_buffer(buffer, grid.reshape(-1, 4))
            upload.stream.synchronize()
            assert upload.host_bytes == 0
            assert read_buffer(canvas, buffer) == expected_grid(1).numpy().tobytes()
        finally:
            upload.close()
            canvas.close()
    finally:
        listener.close()
        try:
            sender.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            sender.kill()
            sender.wait()
        shutil.rmtree(folder, ignore_errors=True)
