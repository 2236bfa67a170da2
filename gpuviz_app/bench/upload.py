"""Upload path throughput: host staging vs CUDA–GL, for 1, 16 and 256 MB buffers and textures."""

from __future__ import annotations

import math

import numpy as np

from gpuviz_app.bench.common import Figure, best_time

MB = 1 << 20


def _canvas(cuda: bool):
    from vispy import app, scene

    from gpuviz_app.render.offscreen import prepare_egl

    prepare_egl(0 if cuda else None)
    canvas = scene.SceneCanvas(size=(64, 64), app=app.Application("egl"), show=False)
    canvas.render()
    return canvas


def _targets(canvas, megabytes: int):
    from vispy import gloo

    n = megabytes * MB // 4
    side = int(math.sqrt(n))
    buffer = gloo.VertexBuffer(np.zeros((n // 4, 4), np.float32))
    texture = gloo.Texture2D(np.zeros((n // side, side), np.float32), internalformat="r32f")
    for obj in (buffer, texture):
        canvas.context.glir.associate(obj.glir)
    canvas.context.flush_commands()
    return {"buffer": (buffer, (n // 4, 4)), "texture": (texture, (n // side, side))}


def _timed_write(canvas, upload, target, data, is_texture: bool, repeat: int) -> float:
    from vispy.gloo import gl

    def once():
        if is_texture:
            upload.write_texture(target, data)
        else:
            upload.write_buffer(target, data)
        canvas.context.flush_commands()
        sync = getattr(upload, "stream", None)
        if sync is not None:
            sync.synchronize()
        gl.glFinish()

    return best_time(once, repeat=repeat)


def run(quick: bool) -> list[Figure]:
    import torch

    from gpuviz_app.render.upload import HostUpload
    from gpuviz_app.render.upload_choice import choose_upload

    cuda = torch.cuda.is_available()
    canvas = _canvas(cuda)
    device = "cuda" if cuda else "cpu"
    interop = choose_upload(canvas, device) if cuda else None
    if not cuda:
        no_interop_reason = "torch sees no CUDA device, so tensors never live on a GPU"
    else:
        no_interop_reason = interop.reason if interop.name != "cuda-gl" else ""
    host = HostUpload()
    figures: list[Figure] = []
    sizes = (1, 16) if quick else (1, 16, 256)
    for megabytes in sizes:
        targets = _targets(canvas, megabytes)
        repeat = 3 if megabytes >= 256 else 5
        for kind, (target, shape) in targets.items():
            data = torch.rand(shape, device=device)
            host_s = _timed_write(canvas, host, target, data, kind == "texture", repeat)
            host_rate = megabytes / host_s
            if interop is not None and interop.name == "cuda-gl":
                fresh = type(target)(np.zeros(target.shape if kind == "texture" else (shape[0], 4), np.float32),
                                     **({"internalformat": "r32f"} if kind == "texture" else {}))
                canvas.context.glir.associate(fresh.glir)
                canvas.context.flush_commands()
                interop.host_bytes = 0
                gpu_s = _timed_write(canvas, interop, fresh, data, kind == "texture", repeat)
                figures.append(Figure(
                    f"upload.{kind}_{megabytes}mb", f"Upload {megabytes} MB {kind} (MB/s)", megabytes / gpu_s, "MB/s",
                    peer=host_rate, peer_name="host staging (tensor -> numpy -> glSubData)",
                    higher_is_better=True, goal=5.0 if megabytes == 256 else None,
                    goal_text=">=5x" if megabytes == 256 else "",
                    note=f"cuda-gl, {interop.host_bytes} host bytes per frame",
                    extra={"host_bytes_per_frame": interop.host_bytes}))
            else:
                figures.append(Figure(
                    f"upload.{kind}_{megabytes}mb", f"Upload {megabytes} MB {kind}, host path (MB/s)", host_rate,
                    "MB/s", higher_is_better=True,
                    note=f"no interop here ({no_interop_reason})", extra={"reason": no_interop_reason}))
        for target, _ in targets.values():
            target.delete()
    canvas.close()
    return figures
