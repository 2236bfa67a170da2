"""A VisPy canvas holding one or more Views; the same class backs a window panel and `record`."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from vispy import scene

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render import vispy_caches
from gpuviz_app.render.even_grid import EvenGrid
from gpuviz_app.render.plot import BACKGROUND
from gpuviz_app.render.scaled import render_scaled
from gpuviz_app.render.upload import HostUpload, UploadPath
from gpuviz_app.render.views.base import View


MARGIN = 4  # pixels around the views


class _SceneCanvas(scene.SceneCanvas):
    """A SceneCanvas that draws no data-less frame twice. Its first draw lays the grid out, and
    the layout's changes ask for a redraw that is already in the frame being drawn; and where the
    widget keeps its frame between paints (`keeps_frame`), a paint the window system asks for
    (the window exposed just after its first paint) while nothing changed shows the frame it
    holds. At start-up those second draws looked the same to the pixel and held the interpreter
    lock while torch was loading."""

    # (class attributes: VisPy canvases refuse new attributes once made)
    keeps_frame = False  # set where the native widget keeps its framebuffer between paints
    _layout_draw = False
    _empty = True  # nothing pushed yet
    _drawn_size: tuple | None = None  # the size of the data-less frame drawn, while it is shown

    def on_draw(self, event) -> None:
        if not self._empty:
            self._drawn_size = None
            return super().on_draw(event)
        if self.keeps_frame and not self._update_pending and self._drawn_size == tuple(self.physical_size):
            return  # nothing changed since the frame the widget holds
        self._layout_draw = True
        try:
            super().on_draw(event)
        finally:
            self._layout_draw = False
        self._drawn_size = tuple(self.physical_size)

    def update(self, node=None) -> None:
        if not self._layout_draw:
            super().update(node)

    def holds_data(self) -> None:
        """Data was pushed: from now on a draw may need the one after it, and every paint draws."""
        self._empty = False


class ViewCanvas:
    """Lays Views out in a grid (two columns when there are several) on one SceneCanvas."""

    def __init__(
        self,
        views: Sequence[View],
        size: tuple[int, int] = (900, 560),
        app: str | None = None,
        upload: UploadPath | None = None,
        show: bool = False,
        parent: object = None,
    ) -> None:
        vispy_caches.install()  # glyphs and shader parses shared by all canvases
        self.views = list(views)
        self.upload = upload or HostUpload()
        self.canvas = _SceneCanvas(size=size, show=show, app=app, bgcolor=BACKGROUND,
                                   keys=None, parent=parent)
        central = self.canvas.central_widget
        if len(self.views) == 1:  # no grid of one cell: a widget and its layout less to make
            central.margin = MARGIN
            self.views[0].attach(central)
        else:
            grid = central.add_widget(EvenGrid(spacing=6, margin=MARGIN))
            for i, view in enumerate(self.views):
                view.attach(grid.add_cell(scene.Widget(), row=i // 2, col=i % 2))
        self.frames = 0
        self.canvas.events.draw.connect(self._count_frame)

    def _count_frame(self, event=None) -> None:
        self.frames += 1

    @property
    def native(self) -> object:
        """The backend widget (a QOpenGLWidget under Qt)."""
        return self.canvas.native

    def configure_upload(self, device: str) -> UploadPath:
        """Choose the upload path for tensors on `device` (needs the canvas drawn once); the
        previous path releases what it held."""
        from gpuviz_app.render.upload_choice import choose_upload

        previous, self.upload = self.upload, choose_upload(self.canvas, device)
        if previous is not self.upload:
            previous.close()
        return self.upload

    def push(self, snapshot: Snapshot) -> bool:
        """Update every View from `snapshot`; request a redraw if any changed.

        The upload path sees the whole frame (begin/end), so an interop path can wait on the
        snapshot's CUDA event once and map all its resources in one call.
        """
        self.canvas.holds_data()
        self.upload.begin_frame(snapshot)
        changed = False
        try:
            for view in self.views:
                changed |= bool(view.update(snapshot, self.upload))
        finally:
            self.upload.end_frame()
        if changed:
            self.canvas.update()
        return changed

    def settle(self) -> None:
        """Draw once so that layout and axes know their sizes before the first real frame."""
        self.canvas.render()

    def render(self, scale: float = 1.0, alpha: bool = True) -> np.ndarray:
        """RGBA pixels of the canvas, re-rendered at `scale` times its size (not upscaled)."""
        if math.isclose(scale, 1.0):
            return self.canvas.render(alpha=alpha)
        w, h = self.canvas.size
        return render_scaled(self.canvas, (int(round(w * scale)), int(round(h * scale))), alpha=alpha)

    def close(self) -> None:
        self.upload.close()
        self.canvas.close()
