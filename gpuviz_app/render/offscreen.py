"""Rendering with no display: VisPy's EGL backend (Mesa surfaceless, or a GPU's EGL device)."""

from __future__ import annotations

import os

import vispy


def use_offscreen_backend(cuda_index: int | None = None) -> str:
    """Select VisPy's EGL app backend for this process and return where it renders."""
    where = prepare_egl(cuda_index)
    vispy.use(app="egl")
    return where


def prepare_egl(cuda_index: int | None = None) -> str:
    """Point VisPy's EGL backend at the right display, before it is first imported.

    Training on CUDA device `cuda_index`: render on that GPU's EGL device when the driver
    offers one (so interop can work). Otherwise Mesa, which needs
    `EGL_PLATFORM=surfaceless` to create a context with no X server; a value the user set
    is left alone.
    """
    where = "EGL"
    if cuda_index is not None:
        from gpuviz_app.render.egl_device import cuda_egl_display, route_vispy_egl_to

        display = cuda_egl_display(cuda_index)
        if display is not None:
            route_vispy_egl_to(display)
            where = f"EGL device of cuda:{cuda_index}"
        else:
            os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    else:
        os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    return where


def gl_info() -> dict[str, str]:
    """Renderer and version of the current GL context (for diagnostics and bug reports)."""
    from vispy.gloo import gl

    return {
        "renderer": str(gl.glGetParameter(gl.GL_RENDERER)),
        "version": str(gl.glGetParameter(gl.GL_VERSION)),
        "vendor": str(gl.glGetParameter(gl.GL_VENDOR)),
    }
