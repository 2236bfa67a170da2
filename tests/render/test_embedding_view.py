import numpy as np
import pytest
import torch

from gpuviz_app.core.probes.embedding.frame import EmbeddingFrame
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.upload import HostUpload
from gpuviz_app.render.views import VIEW_CLASSES
from gpuviz_app.render.views.embedding import EmbeddingView
from gpuviz_app.render.views.embedding.view import TOP
from gpuviz_app.render.views.embedding.overlay import THUMBNAIL, class_colors, parse_class_filter

CLASSES = [str(i) for i in range(10)]


def make_frame(positions, labels, frame=1, epoch=1, sample_id=1, predicted=None, index=None, kind="images",
               inputs=None):
    positions = torch.as_tensor(np.asarray(positions, np.float32))
    n, dims = positions.shape
    labels = torch.as_tensor(np.asarray(labels, np.float32))
    if inputs is None:
        inputs = np.random.default_rng(0).uniform(size=(n if index is None else int(max(index)) + 1, 1, 8, 8))
        inputs = inputs.astype(np.float32)
    return EmbeddingFrame(
        frame=frame, step=frame * 10, positions=positions, labels=labels,
        predicted=labels.clone() if predicted is None else torch.as_tensor(np.asarray(predicted, np.float32)),
        index=torch.arange(n) if index is None else torch.as_tensor(index), sample_id=sample_id, epoch=epoch,
        dims=dims, layer="test", features=8, method="pca", classes=CLASSES, kind=kind, inputs=inputs)


def snap(frame, run_id=1, version=1, finished=False):
    return Snapshot(run_id=run_id, step=frame.step, wall_time=0.0, metrics=MetricsHistory(capacity=4), latest={},
                    parts={"embedding": frame}, versions={"embedding": version}, finished=finished)


def grid_layout(side=20):
    xs, ys = np.meshgrid(np.arange(side), np.arange(side))
    positions = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    labels = (np.arange(side * side) % 10).astype(np.float32)
    return positions, labels


def screen_xy(view, positions):
    mapped = view.points.get_transform("visual", "canvas").map(positions)
    return mapped[:, :2] / mapped[:, 3:4]


def test_the_view_is_registered_with_its_probe():
    assert VIEW_CLASSES["embedding"] is EmbeddingView
    assert EmbeddingView.probe == "embedding"
    assert EmbeddingView().probe_options() == {"layer": "penultimate", "samples": 10_000, "dims": 2,
                                               "method": "pca", "every": 10}


def test_picking_returns_the_index_of_the_point_under_the_pointer(view_canvas):
    view = EmbeddingView()
    canvas = view_canvas([view], size=(600, 500))
    positions, labels = grid_layout()
    index = np.arange(400) * 3 + 7  # a sample of a larger dataset: picking names dataset rows
    canvas.push(snap(make_frame(positions, labels, index=index)))
    canvas.render()
    xy = screen_xy(view, positions)
    for i in (0, 57, 211, 399):
        assert view.pick(*xy[i]) == index[i]
        assert view.pick(xy[i, 0] + 2, xy[i, 1] - 2) == index[i]  # near is enough
    gap = (xy[0] + xy[21]) / 2  # between four points, farther than the pick radius?
    spacing = np.linalg.norm(xy[1] - xy[0])
    if spacing > 2 * 8 * 1.5:
        assert view.pick(*gap) is None
    assert view.pick(5, 5) is None  # far from every point


def test_hidden_classes_are_not_picked(view_canvas):
    view = EmbeddingView()
    canvas = view_canvas([view], size=(600, 500))
    positions, labels = grid_layout()
    canvas.push(snap(make_frame(positions, labels)))
    xy = screen_xy(view, positions)
    assert view.pick(*xy[3]) == 3
    view.set_option("class_filter", "3")
    canvas.push(snap(make_frame(positions, labels)))
    assert view.pick(*xy[3]) == 3
    assert view.pick(*xy[4]) is None
    view.set_option("class_filter", "0, 1 2")
    canvas.push(snap(make_frame(positions, labels)))
    assert view.pick(*xy[3]) is None and view.pick(*xy[2]) == 2


def test_picking_in_three_dimensions(view_canvas):
    view = EmbeddingView()
    view.set_option("dims", "3-D")
    canvas = view_canvas([view], size=(500, 500))
    rng = np.random.default_rng(1)
    positions = rng.uniform(-1, 1, (300, 3)).astype(np.float32)
    canvas.push(snap(make_frame(positions, np.arange(300) % 10)))
    canvas.render()
    xy = screen_xy(view, positions)
    hits = 0
    for i in range(0, 300, 17):
        picked = view.pick(*xy[i])
        assert picked is not None
        hits += picked == i or np.linalg.norm(xy[picked] - xy[i]) < 1.0  # or a point drawn at the same pixel
    assert hits == len(range(0, 300, 17))


def test_find_sample_shows_the_input_and_its_labels(view_canvas):
    view = EmbeddingView()
    canvas = view_canvas([view], size=(600, 500))
    positions, labels = grid_layout()
    predicted = labels.copy()
    predicted[42] = 9
    inputs = np.zeros((400, 1, 8, 8), np.float32)
    inputs[42, 0, :, :4] = 1.0  # left half white
    canvas.push(snap(make_frame(positions, labels, predicted=predicted, inputs=inputs)))
    assert not view.find_sample(10_000)
    upload = canvas.upload
    before = upload.bytes_uploaded
    assert view.find_sample(42)
    assert view.info.text.text == "#42  label 2  predicted 9  (wrong)"
    assert upload.bytes_uploaded - before == THUMBNAIL * THUMBNAIL * 4  # the fixed-size thumbnail texture
    pixels = canvas.render()
    (x0, y0), (x1, y1) = view.info.thumbnail.get_transform("visual", "canvas").map([[0, 0], [1, 1]])[:, :2]
    assert round(x1 - x0) == THUMBNAIL and round(y1 - y0) == THUMBNAIL
    thumb = pixels[round(y0) : round(y1), round(x0) : round(x1), :3].astype(int)
    assert thumb[:, : THUMBNAIL // 2 - 2].mean() > 240 and thumb[:, THUMBNAIL // 2 + 2 :].mean() < 20
    assert view.highlight.visible


def test_a_new_frame_uploads_positions_only_and_a_million_points_fit(view_canvas):
    n = 1_000_000
    view = EmbeddingView()
    canvas = view_canvas([view], size=(320, 240))
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 10, n)
    canvas.push(snap(make_frame(rng.normal(size=(n, 2)), labels, frame=1)))
    canvas.render()
    upload = canvas.upload
    before = upload.bytes_uploaded
    assert canvas.push(snap(make_frame(rng.normal(size=(n, 2)), labels, frame=2), version=2))
    assert upload.bytes_uploaded - before == n * 2 * 4
    assert not canvas.push(snap(make_frame(rng.normal(size=(n, 2)), labels, frame=2), version=3))
    view.set_option("color_by", "predicted")  # now predictions are needed too
    before = upload.bytes_uploaded
    canvas.push(snap(make_frame(rng.normal(size=(n, 2)), labels, frame=3), version=4))
    assert upload.bytes_uploaded - before == n * 2 * 4 + n * 4 + view.points.palette_size * 4


def test_the_trained_digits_embedding_shows_every_class(view_canvas):
    from gpuviz_app.core.probes.embedding.probe import EmbeddingProbe
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.builtin import digits

    session = TrainingSession(digits, device="cpu", max_steps=60)
    session.advance(60)
    frame = EmbeddingProbe(session.trainer.context)(session.trainer.context)
    view = EmbeddingView()
    canvas = view_canvas([view], size=(640, 480))
    canvas.push(snap(frame, finished=True))
    pixels = canvas.render()
    colors = class_colors(10)
    body = pixels[30:-90, :-120]
    assert all(np.all(np.abs(body[..., :3].astype(int) - colors[c, :3]) <= 10, axis=-1).sum() > 100
               for c in range(10))
    assert "1,797 points" in view.info.status.text


def test_class_filter_text():
    keep = parse_class_filter("cat 2", ["dog", "cat", "bird"])
    assert keep.tolist() == [False, True, True]
    assert parse_class_filter("", ["a", "b"]).all()
    assert not parse_class_filter("zebra 7", ["a", "b"]).any()


def test_a_new_run_forgets_the_selection(view_canvas):
    view = EmbeddingView()
    canvas = view_canvas([view], size=(400, 300))
    positions, labels = grid_layout(5)
    canvas.push(snap(make_frame(positions, labels), run_id=1))
    assert view.find_sample(3)
    canvas.push(snap(make_frame(positions, labels), run_id=2))
    assert view.selected is None and not view.highlight.visible


def test_the_camera_follows_until_the_user_zooms_and_a_double_click_refits(view_canvas):
    view = EmbeddingView()
    canvas = view_canvas([view], size=(400, 300))
    positions, labels = grid_layout(10)
    canvas.push(snap(make_frame(positions, labels)))
    fitted = view.viewbox.camera.rect
    assert fitted.left <= 0 and fitted.right >= 9
    view.viewbox.camera.zoom(0.2)
    view.follow = False  # what a wheel or drag on the view does
    canvas.push(snap(make_frame(positions * 2, labels, frame=2), version=2))
    assert view.viewbox.camera.rect.right < 9  # left where the user put it
    centre = view.viewbox.get_transform("visual", "canvas").map([200, 150])[:2]
    for _ in range(2):
        canvas.canvas.events.mouse_press(pos=tuple(centre), button=1, buttons=[1], modifiers=())
        canvas.canvas.events.mouse_release(pos=tuple(centre), button=1, buttons=[], modifiers=())
    assert view.follow
    assert view.viewbox.camera.rect.right >= 18  # refitted to the new cloud


def class_pixels(pixels, n_classes=10):
    colours = class_colors(n_classes)[:, :3].astype(int)
    rgb = pixels[..., :3].astype(int)
    return np.any(np.all(np.abs(rgb[:, :, None, :] - colours[None, None]) < 20, axis=-1), axis=-1)


def test_points_leave_the_status_line_free(view_canvas):
    view = EmbeddingView()
    canvas = view_canvas([view], size=(600, 500))
    positions, labels = grid_layout()
    canvas.push(snap(make_frame(positions, labels)))
    canvas.render()
    assert screen_xy(view, positions)[:, 1].min() > TOP
    view.viewbox.camera.set_range(x=(4, 15), y=(4, 15), margin=0)  # zoomed in: the cloud fills the view
    hits = class_pixels(canvas.render())
    assert hits[TOP:, :].sum() > 400  # the cloud is drawn ...
    assert not hits[:TOP - 2, 300:540].any()  # ... and none of it in the status line's rows
    assert "step 10" in view.info.status.text


def test_a_collapsed_projection_says_so(view_canvas):
    view = EmbeddingView()
    canvas = view_canvas([view], size=(600, 500))
    _, labels = grid_layout()
    canvas.push(snap(make_frame(np.full((400, 2), 3.0), labels)))
    below_centre = (slice(277, 307), slice(150, 450))
    assert "collapsed to one point" in view.reason.text
    pixels = canvas.render()
    text = pixels[below_centre][..., :3].astype(int)
    assert (np.abs(text - text[0, 0]).sum(-1) > 150).sum() > 30  # the sentence is drawn


def test_a_non_finite_projection_keeps_the_last_finite_picture(view_canvas):
    view = EmbeddingView()
    canvas = view_canvas([view], size=(600, 500))
    positions, labels = grid_layout()
    canvas.push(snap(make_frame(positions, labels, frame=1)))
    before = class_pixels(canvas.render()).sum()
    broken = np.full_like(positions, np.nan)
    canvas.push(snap(make_frame(broken, labels, frame=2)))
    assert view.reason.text == "the projection at step 20 is not finite; showing step 10"
    assert class_pixels(canvas.render()).sum() > 0.8 * before


def test_a_lagging_projection_says_the_training_step(view_canvas):
    view = EmbeddingView()
    canvas = view_canvas([view], size=(600, 500))
    positions, labels = grid_layout()
    frame = make_frame(positions, labels)
    canvas.push(Snapshot(run_id=1, step=30, wall_time=0.0, metrics=MetricsHistory(capacity=4), latest={},
                         parts={"embedding": frame}, versions={"embedding": 1}))
    assert "step 10 (training at 30)" in view.info.status.text
