import numpy as np

from gpuviz_app.core.history import Decimated, MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.upload import HostUpload
from gpuviz_app.render.views.metrics import COLORS, DIVERGED, MetricsView, envelope, loss_scale


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
    assert view.loss.scale == "linear"  # a normal run needs no log axis
    view.set_option("loss_axis", "log")
    assert canvas.push(trained_snapshot)
    assert view.loss.log
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


def color_mask(pixels: np.ndarray, hex_color: str, tol: int = 24) -> np.ndarray:
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
    return np.all(np.abs(pixels[..., :3].astype(int) - rgb) < tol, axis=-1)


def test_evaluations_are_markers_not_joined_lines(view_canvas):
    history = MetricsHistory(capacity=64)
    history.append("eval_loss", np.array([0, 100, 200]), np.array([2.0, 0.4, 0.3]))
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    canvas.push(snapshot_with(history, 200))
    hits = color_mask(canvas.render(), COLORS["eval_loss"])
    hits[:60, 500:] = False  # the legend sits in the top-right corner
    columns = np.flatnonzero(hits.any(axis=0))
    assert len(columns) > 6  # three markers drawn
    clusters = np.split(columns, np.flatnonzero(np.diff(columns) > 2) + 1)
    assert len(clusters) == 3 and all(len(c) <= 12 for c in clusters)  # and nothing between them


def test_the_first_frame_shows_the_step_0_evaluation(view_canvas):
    history = MetricsHistory(capacity=64)
    history.append("eval_loss", np.array([0]), np.array([2.3]))
    history.append("eval_acc", np.array([0]), np.array([0.1]))
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    canvas.push(snapshot_with(history, 0))
    pixels = canvas.render()
    assert color_mask(pixels[:, :400], COLORS["eval_loss"]).sum() > 10
    assert color_mask(pixels[:, :400], COLORS["eval_acc"]).sum() > 10
    assert view.loss.message == "" and view.loss.note == "step 0"


def test_train_accuracy_is_drawn(view_canvas, trained_snapshot):
    assert trained_snapshot.metrics.total("train_acc") == 150  # the trainer records it every step
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    canvas.push(trained_snapshot)
    assert color_mask(canvas.render()[:, :500], COLORS["train_acc"]).sum() > 150


def test_a_blank_plot_says_why(view_canvas):
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    canvas.push(snapshot_with(MetricsHistory(capacity=64), 0))
    empty = canvas.render()
    assert view.loss.message == "no data yet" and view.acc.message == "no data yet"
    history = MetricsHistory(capacity=64)
    history.append("train_loss", np.arange(1, 11), np.full(10, np.nan))
    canvas.push(snapshot_with(history, 10, run_id=2))
    assert view.loss.message == "values are not finite"
    text = canvas.render()
    centre = (slice(80, 120), slice(250, 390))  # the middle of the loss plot, where the reason is written
    assert (text[centre][..., :3].astype(int).sum(-1) > 300).sum() > 20
    assert not np.array_equal(empty[centre], text[centre])


def test_a_loss_spike_switches_the_axis_to_log(view_canvas):
    history = MetricsHistory(capacity=256)
    steps = np.arange(1, 201)
    loss = np.geomspace(2.3, 0.05, 200)
    loss[120:125] = 8e8  # a spike, as with lr 10
    history.append("train_loss", steps, loss)
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    canvas.push(snapshot_with(history, 200))
    assert view.loss.scale == "log"
    hits = color_mask(canvas.render(), COLORS["train_loss"])[:, :500]
    rows = np.flatnonzero(hits[:, 60:300].any(axis=1))
    # on a linear axis the first 120 steps lie flat on the bottom edge; on log they slope down
    assert rows.max() - rows.min() > 5
    view.set_option("loss_axis", "clipped")
    canvas.push(snapshot_with(history, 200))
    assert view.loss.scale == "clipped" and view.loss.clip < 100
    view.set_option("loss_axis", "linear")
    canvas.push(snapshot_with(history, 200))
    assert view.loss.scale == "linear"
    flat = np.flatnonzero(color_mask(canvas.render(), COLORS["train_loss"])[:, 60:300].any(axis=1))
    assert flat.max() - flat.min() <= 2


def test_loss_scale_stays_linear_for_a_normal_run():
    d = Decimated(np.arange(50.0), np.linspace(2.3, 0.2, 50), np.linspace(2.4, 0.25, 50))
    assert loss_scale("auto", d) == ("linear", float("inf"))
    assert loss_scale("log", d)[0] == "log"


def test_the_divergence_step_is_marked(view_canvas):
    history = MetricsHistory(capacity=64)
    values = np.linspace(2.3, 1.0, 100)
    values[60:] = np.nan
    history.append("train_loss", np.arange(1, 101), values)
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    snapshot = Snapshot(run_id=1, step=100, wall_time=0.0, metrics=history, latest={}, diverged_step=61,
                        diverged="the loss became NaN at step 61")
    canvas.push(snapshot)
    pixels = canvas.render()
    red = color_mask(pixels, DIVERGED, tol=30)
    column = int(np.argmax(red.sum(axis=0)))
    assert red[:, column].sum() > 200  # a vertical line down both plots
    assert view.loss.marks[0][2] == "diverged at step 61"
    line = color_mask(pixels, COLORS["train_loss"])[:, :500]
    assert np.flatnonzero(line.any(axis=0)).max() < column + 3  # the last finite curve ends there
