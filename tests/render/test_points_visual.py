import numpy as np
import pytest
from vispy import scene

from gpuviz_app.render.upload import HostUpload
from gpuviz_app.render.views.embedding.overlay import class_colors
from gpuviz_app.render.visuals.points import Points, palette_capacity


class RecordingUpload(HostUpload):
    """Host staging that also remembers which GL object each write went to."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[object, int]] = []

    def write_buffer(self, buffer, data, offset=0):
        before = self.bytes_uploaded
        super().write_buffer(buffer, data, offset)
        self.writes.append((buffer, self.bytes_uploaded - before))

    def write_texture(self, texture, data, offset=None):
        before = self.bytes_uploaded
        super().write_texture(texture, data, offset)
        self.writes.append((texture, self.bytes_uploaded - before))


@pytest.fixture
def scene_canvas(egl_app):
    made = []

    def make(size=(200, 200), dims=2):
        canvas = scene.SceneCanvas(size=size, app=egl_app, bgcolor="black", show=False)
        view = canvas.central_widget.add_view()
        view.camera = scene.PanZoomCamera(aspect=1) if dims == 2 else scene.TurntableCamera()
        made.append(canvas)
        return canvas, view

    yield make
    for canvas in made:
        canvas.close()


def colored(pixels, rgb, tol=10):
    return np.all(np.abs(pixels[..., :3].astype(int) - np.array(rgb)) <= tol, axis=-1)


def palette(n=3):
    return class_colors(n)


def test_a_million_points_update_by_writing_only_the_position_buffer(scene_canvas):
    n = 1_000_000
    canvas, view = scene_canvas((160, 160))
    points = Points(n, dims=2, classes=10, size=1, parent=view.scene)
    rng = np.random.default_rng(0)
    upload = RecordingUpload()
    labels = rng.integers(0, 10, n).astype(np.float32)
    points.set_labels(labels, upload)
    points.set_palette(class_colors(10), upload)
    points.set_positions(rng.uniform(-1, 1, (n, 2)).astype(np.float32), upload, animate=False)
    view.camera.set_range(x=(-1, 1), y=(-1, 1), margin=0)
    first = canvas.render()
    assert colored(first, class_colors(10)[3, :3]).sum() > 500  # the points are drawn

    upload.writes.clear()
    before = upload.bytes_uploaded
    buffer_ids = [id(b) for b in points.positions]
    points.set_positions(rng.uniform(-1, 1, (n, 2)).astype(np.float32), upload)
    assert upload.bytes_uploaded - before == n * 2 * 4  # positions only: no labels, no colours
    assert len(upload.writes) == 1 and upload.writes[0][0] is points.positions[points._front]
    assert [id(b) for b in points.positions] == buffer_ids  # written in place, never re-allocated
    points.finish_transition()
    assert not np.array_equal(first, canvas.render())


def test_the_shader_interpolates_between_the_previous_and_the_new_positions(scene_canvas):
    canvas, view = scene_canvas((200, 200))
    points = Points(1, dims=2, classes=3, size=12, duration=1000.0, parent=view.scene)
    upload = HostUpload()
    points.set_labels(np.zeros(1, np.float32), upload)
    points.set_palette(palette(), upload)
    view.camera.set_range(x=(-1, 1), y=(-1, 1), margin=0)
    points.set_positions(np.array([[-0.5, 0.0]], np.float32), upload, animate=False)
    points.set_positions(np.array([[0.5, 0.0]], np.float32), upload, animate=True)
    color = class_colors(3)[0, :3]

    def drawn_x() -> float:
        cols = np.nonzero(colored(canvas.render(), color))[1]
        assert len(cols), "the point is not drawn"
        return cols.mean()

    at_start = drawn_x()
    assert at_start < 70  # still at the previous position (x = -0.5 -> pixel 50)
    points._started -= 500.0  # half the transition has passed
    assert 90 < drawn_x() < 110
    points.finish_transition()
    assert drawn_x() > 130


def test_colour_modes_and_the_class_filter(scene_canvas):
    canvas, view = scene_canvas((200, 200))
    points = Points(3, dims=2, classes=3, size=20, parent=view.scene)
    upload = HostUpload()
    points.set_positions(np.array([[-0.6, 0], [0, 0], [0.6, 0]], np.float32), upload, animate=False)
    points.set_labels(np.array([0, 1, 2], np.float32), upload)
    points.set_predicted(np.array([0, 2, 2], np.float32), upload)
    colors = class_colors(3)
    points.set_palette(colors, upload)
    view.camera.set_range(x=(-1, 1), y=(-1, 1), margin=0)
    px = canvas.render()
    for c in range(3):
        assert colored(px, colors[c, :3]).sum() > 100
    points.set_mode("predicted")
    px = canvas.render()
    assert colored(px, colors[1, :3]).sum() == 0 and colored(px, colors[2, :3]).sum() > 200
    points.set_mode("correct")
    px = canvas.render()
    assert colored(px, (0xA3, 0xBE, 0x8C)).sum() > 200 and colored(px, (0xBF, 0x61, 0x6A)).sum() > 100
    hidden = colors.copy()
    hidden[1, 3] = 0
    points.set_mode("class")
    points.set_palette(hidden, upload)
    px = canvas.render()
    assert colored(px, colors[1, :3]).sum() == 0 and colored(px, colors[0, :3]).sum() > 100


def test_three_dimensional_points_use_a_turntable_camera(scene_canvas):
    canvas, view = scene_canvas((200, 200), dims=3)
    points = Points(4, dims=3, classes=4, size=10, parent=view.scene)
    upload = HostUpload()
    points.set_positions(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32), upload, animate=False)
    points.set_labels(np.arange(4, dtype=np.float32), upload)
    points.set_palette(class_colors(4), upload)
    view.camera.set_range(x=(-1, 1), y=(-1, 1), z=(-1, 1))
    px = canvas.render()
    assert sum(colored(px, class_colors(4)[c, :3]).sum() > 20 for c in range(4)) == 4


def test_palette_capacity_grows_in_powers_of_two():
    assert palette_capacity(3) == 16 and palette_capacity(16) == 16 and palette_capacity(17) == 32
    assert palette_capacity(1000) == 1024
