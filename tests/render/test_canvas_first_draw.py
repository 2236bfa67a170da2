"""A canvas with no data yet draws its layout once: the layout's own redraw requests, and a
paint the window system asks for while nothing changed (where the widget keeps its frame),
draw nothing again; a resize or data draws as before."""

import numpy as np
import pytest

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render import canvas as canvas_module
from gpuviz_app.render.canvas import ViewCanvas
from gpuviz_app.render.views.metrics import MetricsView


@pytest.fixture
def scenes_drawn(monkeypatch):
    drawn = []
    original = canvas_module._SceneCanvas._draw_scene

    def counted(self, *args, **kwargs):
        drawn.append(tuple(self.physical_size))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(canvas_module._SceneCanvas, "_draw_scene", counted)
    return drawn


def paint(canvas: ViewCanvas) -> None:
    canvas.canvas.set_current()
    canvas.canvas.events.draw(region=None)  # what the backend does for a paint


def losses(steps: int) -> Snapshot:
    history = MetricsHistory(capacity=64)
    history.append("train_loss", np.arange(1, steps + 1), np.linspace(2.3, 1.0, steps))
    return Snapshot(run_id=1, step=steps, wall_time=0.0, metrics=history, latest={})


def test_a_data_less_frame_is_drawn_once_then_kept(egl_app, scenes_drawn):
    canvas = ViewCanvas([MetricsView()], size=(480, 320), app=egl_app)
    canvas.canvas.keeps_frame = True
    try:
        canvas.canvas.size = (400, 360)  # placed in a window: the grid is laid out at the first draw
        paint(canvas)
        assert len(scenes_drawn) == 1
        assert not canvas.canvas._update_pending, "the layout's changes asked for another draw"
        paint(canvas)  # exposed again, nothing changed: the frame held is shown
        assert len(scenes_drawn) == 1
        canvas.canvas.size = (420, 360)
        paint(canvas)
        assert len(scenes_drawn) == 2
        assert canvas.push(losses(10)) and canvas.canvas._update_pending  # data asks for draws as before
        paint(canvas)
        paint(canvas)  # with data every paint draws
        assert len(scenes_drawn) == 4
        assert canvas.push(losses(20)) and canvas.canvas._update_pending
    finally:
        canvas.close()


def test_without_a_kept_frame_every_paint_draws(egl_app, scenes_drawn):
    canvas = ViewCanvas([MetricsView()], size=(480, 320), app=egl_app)  # as `gpuviz record` makes it
    try:
        paint(canvas)
        paint(canvas)
        assert len(scenes_drawn) == 2
    finally:
        canvas.close()
