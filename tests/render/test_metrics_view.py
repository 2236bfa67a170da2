import numpy as np

from gpuviz_app.core.history import Decimated, MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.upload import HostUpload
from gpuviz_app.render.views.metrics import MetricsView, envelope


def test_envelope_visits_each_columns_min_then_max():
    d = Decimated(np.array([1.0, 2.0]), np.array([0.5, 0.2]), np.array([0.9, 0.4]))
    np.testing.assert_array_equal(envelope(d), np.array([[1, 0.5], [1, 0.9], [2, 0.2], [2, 0.4]], np.float32))


def snapshot_with(history: MetricsHistory, step: int, run_id: int = 1) -> Snapshot:
    return Snapshot(run_id=run_id, step=step, wall_time=0.0, metrics=history, latest={})


def test_view_renders_the_loss_curve(view_canvas, trained_snapshot):
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    assert canvas.push(trained_snapshot)
    pixels = canvas.render()
    assert pixels.shape == (400, 640, 4)
    train_color = np.array([0x88, 0xC0, 0xD0])
    hits = np.all(np.abs(pixels[..., :3].astype(int) - train_color) < 30, axis=-1)
    assert hits.sum() > 200  # the train-loss line is drawn
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 20


def test_frames_change_as_training_goes_on(view_canvas):
    history = MetricsHistory(capacity=64)
    view = MetricsView()
    canvas = view_canvas([view], size=(480, 320))
    history.append("train_loss", np.arange(1, 11), np.linspace(2.3, 1.0, 10))
    canvas.push(snapshot_with(history, 10))
    first = canvas.render()
    history.append("train_loss", np.arange(11, 101), np.linspace(1.0, 0.1, 90))
    assert canvas.push(snapshot_with(history, 100))
    assert not np.array_equal(first, canvas.render())
    assert not canvas.push(snapshot_with(history, 100))  # nothing new: no redraw asked


def test_series_buffer_is_written_in_place(view_canvas, trained_snapshot):
    view = MetricsView()
    canvas = view_canvas([view])
    line = view.loss.series["train_loss"]
    buffer_before = line.positions
    canvas.push(trained_snapshot)
    canvas.render()
    upload = HostUpload()
    line.write(np.array([[0, 1], [1, 2]], np.float32), upload)
    assert line.positions is buffer_before
    assert upload.bytes_uploaded == line.capacity * 2 * 4


def test_log_scale_maps_values_to_decades(view_canvas, trained_snapshot):
    view = MetricsView()
    canvas = view_canvas([view])
    canvas.push(trained_snapshot)
    linear = canvas.render()
    view.set_option("log_loss", True)
    assert view.loss.log
    assert canvas.push(trained_snapshot)
    logged = canvas.render()
    assert not np.array_equal(linear, logged)
    staged = view.loss.series["train_loss"]._staging[: view.loss.series["train_loss"].count]
    assert staged[:, 1].max() < 1.0  # log10 of losses <= ~2.3


def test_a_new_run_clears_the_previous_curves(view_canvas):
    view = MetricsView()
    canvas = view_canvas([view])
    h1 = MetricsHistory(capacity=64)
    h1.append("train_loss", np.arange(1, 201), np.linspace(2, 0.1, 200))
    canvas.push(snapshot_with(h1, 200, run_id=1))
    h2 = MetricsHistory(capacity=64)
    h2.append("train_loss", np.arange(1, 6), np.linspace(2, 1.9, 5))
    canvas.push(snapshot_with(h2, 5, run_id=2))
    assert view.loss.series["train_loss"].count == 10  # 5 columns x (min, max)
    assert view.loss.view.camera.rect.right < 20  # the axes left the old run's 200 steps
