"""An offscreen EGL VisPy application for render-tier tests (no Qt, no display needed)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def egl_app():
    """On a CUDA machine, the EGL device of cuda:0 (so interop tests can run); else Mesa."""
    from vispy import app

    from gpuviz_app.render.offscreen import prepare_egl
    from tests.conftest import has_cuda

    prepare_egl(0 if has_cuda() else None)
    return app.Application("egl")


@pytest.fixture(autouse=True)
def _release_egl_after_each_test():
    """Leave no EGL context current after a render test: Qt's GLX contexts, used by the UI
    tests later in this process, cannot be made current while an EGL context is."""
    yield
    import sys

    backend = sys.modules.get("vispy.app.backends._egl")
    if backend is not None and getattr(backend, "available", False):
        from vispy.ext import egl

        egl.eglMakeCurrent(backend._EGL_DISPLAY, None, None, None)


@pytest.fixture
def view_canvas(egl_app):
    """Build a ViewCanvas on EGL; closed after the test."""
    from gpuviz_app.render.canvas import ViewCanvas

    made = []

    def make(views, size=(640, 400), **kwargs):
        canvas = ViewCanvas(views, size=size, app=egl_app, **kwargs)
        canvas.settle()
        made.append(canvas)
        return canvas

    yield make
    for canvas in made:
        canvas.close()


@pytest.fixture(scope="session")
def trained_snapshot():
    """A snapshot after 150 steps on digits (CPU), shared by read-only render tests."""
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.builtin import digits

    session = TrainingSession(digits, device="cpu", max_steps=150)
    session.run(until_finished=True)
    return session.mailbox.peek()
