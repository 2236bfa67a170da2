"""Rendering with no display: VisPy's EGL backend (Mesa surfaceless, or a GPU's EGL device)."""

from __future__ import annotations

import os

import vispy


def use_offscreen_backend() -> str:
    """Select VisPy's EGL app backend for this process and return its name.

    Mesa needs `EGL_PLATFORM=surfaceless` to create a context with no X server; a value
    the user set is left alone.
    """
    os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    vispy.use(app="egl")
    return "egl"


def gl_info() -> dict[str, str]:
    """Renderer and version of the current GL context (for diagnostics and bug reports)."""
    from vispy.gloo import gl

    return {
        "renderer": str(gl.glGetParameter(gl.GL_RENDERER)),
        "version": str(gl.glGetParameter(gl.GL_VERSION)),
        "vendor": str(gl.glGetParameter(gl.GL_VENDOR)),
    }
