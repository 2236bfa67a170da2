from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.probes.weights.probe import WeightsProbe
from gpuviz_app.core.run_context import RunContext
from gpuviz_app.render.colormaps import DIVERGING, SEQUENTIAL, apply
from gpuviz_app.render.upload import HostUpload, as_numpy
from gpuviz_app.render.views.weights import WeightsView

KNOWN = np.array([[-1.0, -0.5, 0.0, 0.5], [1.0, 0.25, -0.25, 0.75], [0.1, -0.9, 0.6, -0.3]], np.float32)


def diverging_rgb(value: np.ndarray, vmax: float) -> np.ndarray:
    """The heatmap's colour for `value` when the range is [-vmax, vmax]."""
    return apply(DIVERGING, np.asarray(value, np.float64) / (2.0 * vmax) + 0.5)


class RecordingUpload(HostUpload):
    """The host path, keeping what was last written into each GL object."""

    def __init__(self):
        super().__init__()
        self.written = {}

    def write_texture(self, texture, data, offset=None):
        super().write_texture(texture, data, offset)
        self.written[id(texture)] = as_numpy(data).copy()


def snapshot(payload, version=1, run_id=1, step=0):
    return Snapshot(run_id=run_id, step=step, wall_time=0.0, metrics=MetricsHistory(capacity=2), latest={},
                    parts={"weights": payload}, versions={"weights": version})


def known_payload(scale: float = 1.0):
    """A one-layer model whose weight matrix is KNOWN times `scale` (no steps recorded)."""
    model = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(KNOWN) * scale)
    context = RunContext(model=model, device=torch.device("cpu"), inputs=torch.zeros(1, 4))
    return WeightsProbe(context)(context)


@pytest.fixture(scope="module")
def trained_weights():
    """Snapshots of a CNN on digits after 120 steps, with the weights probe."""
    from gpuviz_app.core.probes import probe_factories
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.builtin import digits

    session = TrainingSession(digits, device="cpu", max_steps=120, probes=probe_factories({"weights"}))
    return session.advance(120)


def texel_centre(canvas, tile, row, col):
    """Canvas pixel (x, y) of texel (row, col)'s centre."""
    x, y = tile.image.node_transform(canvas.canvas.scene).map((col + 0.5, row + 0.5))[:2]
    return x, y


def test_heatmap_texel_maps_to_the_weight_through_the_colormap(view_canvas):
    view = WeightsView()
    view.set_options({"layer": "1", "show": "weights"})
    upload = RecordingUpload()
    canvas = view_canvas([view], size=(400, 300), upload=upload)
    assert canvas.push(snapshot(known_payload()))
    tile = view.tiles.tiles[0]
    texels = upload.written[id(tile.image.texture)]
    np.testing.assert_array_equal(texels, KNOWN)  # texel (i, j) holds weight[i, j]
    assert tile.vmax == pytest.approx(1.2)  # symmetric, rounded up from max |w| = 1
    pixels = canvas.render()
    for i in range(3):
        for j in range(4):
            x, y = texel_centre(canvas, tile, i, j)
            got = pixels[int(y), int(x), :3].astype(int)
            want = np.round(diverging_rgb(KNOWN[i, j], tile.vmax) * 255).astype(int)
            assert np.abs(got - want).max() <= 3, (i, j, got, want)


def test_hovering_reports_row_column_and_value(view_canvas):
    view = WeightsView()
    view.set_options({"layer": "1", "show": "weights"})
    canvas = view_canvas([view], size=(400, 300))
    canvas.push(snapshot(known_payload()))
    canvas.render()
    tile = view.tiles.tiles[0]
    x, y = texel_centre(canvas, tile, 2, 1)
    hit = view.value_at(x, y)
    assert (hit.layer, hit.row, hit.col, hit.value) == (0, 2, 1, pytest.approx(-0.9))
    assert "[2, 1]" in view.describe(hit) and "-0.9" in view.describe(hit)
    view._on_move(SimpleNamespace(pos=(x, y)))
    assert view.hover_text == view.describe(hit) and view.hover.text == view.hover_text
    assert view.value_at(2, 2) is None  # outside the matrix


def test_the_colour_range_moves_in_round_steps_of_the_matrix_alone():
    from gpuviz_app.render.views.weights.tiles import symmetric_range

    vmax = symmetric_range(0.31)
    assert vmax >= 0.31
    for absmax in (0.33, 0.32, 0.34):  # small changes keep the range
        assert symmetric_range(absmax) == vmax
    assert symmetric_range(0.9) > 0.9  # outgrown: jumps
    assert symmetric_range(0.06) < vmax  # shrunk: follows, so a step looks the same whatever came before


def test_the_whole_view_renders_from_a_training_run(view_canvas, trained_weights):
    view = WeightsView()
    upload = RecordingUpload()
    canvas = view_canvas([view], size=(960, 640), upload=upload)
    assert canvas.push(trained_weights)
    pixels = canvas.render()
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 200
    payload = trained_weights.parts["weights"]
    # the density texture holds the focus layer's counts; the largest layer is shown first
    focus = view.focus_layer()
    assert payload.layers[focus]["shape"] == (64, 512)
    n = payload.columns
    np.testing.assert_array_equal(upload.written[id(view.distribution.density.counts)],
                                  as_numpy(payload.counts[focus, :n]))
    # the density image is drawn in the sequential colormap
    colours = np.round(apply(SEQUENTIAL, np.linspace(0.12, 1, 64)) * 255).astype(int)
    top_right = pixels[: 640 // 2, 960 // 2 :, :3].reshape(-1, 3).astype(int)
    near = np.abs(top_right[:, None, :] - colours[None]).max(-1).min(-1) <= 4
    assert near.sum() > 5000
    # conv filters arrive as RGBA8 tiles
    conv = next(t for t in view.tiles.tiles if t.kind == "rgba")
    np.testing.assert_array_equal(upload.written[id(conv.image.texture)],
                                  as_numpy(payload.filters[conv.index].per_filter))
    assert view.ridges.fill.count > 0 and view.ridges.lines.count > 0
    assert all(s.count > 1 for s in view.health.grad.series.values())


def test_gl_objects_are_written_in_place(view_canvas, trained_weights):
    view = WeightsView()
    canvas = view_canvas([view], size=(960, 640))
    canvas.push(trained_weights)
    canvas.render()
    textures = [t.image.texture for t in view.tiles.tiles]
    density = view.distribution.density.counts
    fill = view.ridges.fill.vertices
    payload = trained_weights.parts["weights"]
    again = snapshot(payload, version=trained_weights.version("weights") + 1, run_id=trained_weights.run_id)
    assert canvas.push(again)
    canvas.render()
    assert [t.image.texture for t in view.tiles.tiles] == textures
    assert view.distribution.density.counts is density and view.ridges.fill.vertices is fill
    assert not canvas.push(again)  # same version: nothing to do


def test_gradient_histograms_and_shared_filter_scale(view_canvas, trained_weights):
    view = WeightsView()
    upload = RecordingUpload()
    canvas = view_canvas([view], size=(960, 640), upload=upload)
    view.set_options({"histogram": "gradients", "normalise": "shared", "layer": "2", "conv": "all channels"})
    canvas.push(trained_weights)
    payload = trained_weights.parts["weights"]
    assert [t.index for t in view.tiles.tiles] == [1]
    np.testing.assert_array_equal(upload.written[id(view.tiles.tiles[0].image.texture)],
                                  as_numpy(payload.filters[1].shared))
    np.testing.assert_array_equal(upload.written[id(view.distribution.density.counts)],
                                  as_numpy(payload.counts[1 + 4, : payload.columns]))
    assert view.distribution.plot.title.startswith("Gradients of 2 conv")


@pytest.mark.parametrize("show", ["weights", "distribution", "ridgeline", "health"])
def test_each_panel_alone_renders(view_canvas, trained_weights, show):
    view = WeightsView()
    view.set_options({"show": show})
    canvas = view_canvas([view], size=(480, 320))
    canvas.push(trained_weights)
    pixels = canvas.render()
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 20


def test_dead_layers_are_flagged(view_canvas, trained_weights):
    payload = trained_weights.parts["weights"]
    latest = payload.latest.clone()
    latest[3] = torch.tensor([0.0, 0.0, 1.0, 0.0])
    dead = SimpleNamespace(**{**payload.__dict__, "latest": latest})
    view = WeightsView()
    canvas = view_canvas([view], size=(960, 640))
    canvas.push(snapshot(dead))
    assert view.dead_layers() == [payload.layers[2]["label"]]
    assert view.health.grad.legend[2] == (payload.layers[2]["label"] + " (dead)", "#bf616a")


def test_clicking_a_tile_picks_the_layer_the_distributions_show(view_canvas, trained_weights):
    view = WeightsView()
    canvas = view_canvas([view], size=(960, 640))
    canvas.push(trained_weights)
    canvas.render()
    tile = next(t for t in view.tiles.tiles if t.index == 3)
    x, y = texel_centre(canvas, tile, 0, 0)
    view._on_press(SimpleNamespace(pos=(x, y)))
    assert view.focus_layer() == 3
    assert canvas.push(trained_weights)
    assert view.distribution.plot.title == "Weights of 4 linear 10\u00d764"


def test_heatmaps_have_a_colourbar_and_a_range_of_the_shown_step_alone(view_canvas):
    view = WeightsView()
    canvas = view_canvas([view], size=(480, 320))
    view.set_options({"show": "weights"})
    canvas.push(snapshot(known_payload()))
    pixels = canvas.render()[..., :3].astype(int)
    tile = view.tiles.tiles[0]
    assert tile.bar_text.text == ["+1.2", "0", "\u22121.2"]
    # right of the heatmap, a strip going from the colour of +vmax at the top to -vmax at the bottom
    x = int(tile.widget.pos[0] + tile.widget.size[0]) - 44 + 2 + 4
    top, bottom = int(tile.widget.pos[1]) + 20, int(tile.widget.pos[1] + tile.widget.size[1]) - 6
    np.testing.assert_allclose(pixels[top, x], diverging_rgb(1.2, 1.2) * 255, atol=25)
    np.testing.assert_allclose(pixels[bottom, x], diverging_rgb(-1.2, 1.2) * 255, atol=25)
    canvas.push(snapshot(known_payload(scale=4.0), version=2, step=1))
    assert tile.bar_text.text == ["+5", "0", "\u22125"]
    canvas.push(snapshot(known_payload(), version=3, step=0))  # back to the first step: its own colours, not the larger ones
    assert tile.bar_text.text == ["+1.2", "0", "\u22121.2"]
    np.testing.assert_array_equal(canvas.render()[..., :3].astype(int), pixels)


def test_the_distribution_axis_ends_at_the_last_step(view_canvas, trained_weights):
    view = WeightsView()
    canvas = view_canvas([view], size=(960, 640))
    canvas.push(trained_weights)
    last = trained_weights.parts["weights"].column_steps[-1, 1]
    assert last == 120
    right = view.distribution.plot.view.camera.rect.right
    assert last <= right <= 1.05 * last  # not rounded up to 150 or 200
    assert view.distribution.plot.note == "step 120"


def test_health_legends_name_the_layers_inside_the_panel(view_canvas, trained_weights):
    view = WeightsView()
    canvas = view_canvas([view], size=(960, 640))
    canvas.push(trained_weights)
    canvas.render()
    labels = [layer["label"] for layer in trained_weights.parts["weights"].layers]
    plot = view.health.grad
    assert [label for label, _ in plot.legend] == labels
    inside = plot.widget.size[0] - 10  # the legend's right edge, in the plot widget's pixels
    assert plot.shown["legend"] and all(label.pos[0] <= inside for label in plot.shown["legend"])
    assert len(plot.shown_texts("ticks_y")) >= 3  # the log axis has several ticks, not one


def test_a_conv_layer_of_many_channels_shows_each_filters_channel_mean(view_canvas, trained_weights):
    view = WeightsView()
    upload = RecordingUpload()
    canvas = view_canvas([view], size=(960, 640), upload=upload)
    view.set_options({"layer": "2"})  # 2 conv 32x16x3x3
    canvas.push(trained_weights)
    grid = trained_weights.parts["weights"].filters[1]
    tile = view.tiles.tiles[0]
    image = upload.written[id(tile.image.texture)]
    assert image.shape[:2] == (6 * 4 + 1, 6 * 4 + 1)  # 32 filters of 3x3 in a 6x6 grid, not 32x16 tiles
    mean = as_numpy(grid.values).mean(axis=1)[5]
    lo, hi = mean.min(), mean.max()
    r, c = divmod(5, 6)
    np.testing.assert_allclose(image[1 + r * 4 : 4 + r * 4, 1 + c * 4 : 4 + c * 4, 0],
                               np.round((mean - lo) / (hi - lo) * 255), atol=1)
    assert "mean of 16 channels" in tile.label.text
    view.set_options({"conv": "all channels"})
    canvas.push(snapshot(trained_weights.parts["weights"], version=99, run_id=trained_weights.run_id))
    assert upload.written[id(view.tiles.tiles[0].image.texture)].shape == as_numpy(grid.per_filter).shape


def test_a_diverged_run_keeps_the_last_finite_weights_and_says_so(view_canvas):
    view = WeightsView()
    upload = RecordingUpload()
    canvas = view_canvas([view], size=(480, 320), upload=upload)
    view.set_options({"show": "weights"})
    payload = known_payload()
    canvas.push(snapshot(payload, step=payload.step))
    before = canvas.render()
    broken = SimpleNamespace(**payload.__dict__)
    broken.step = payload.step + 5
    broken.matrices = {0: SimpleNamespace(**{**payload.matrices[0].__dict__,
                                             "values": torch.full((3, 4), float("nan")),
                                             "absmax": torch.tensor(float("nan"))})}
    diverged = Snapshot(run_id=1, step=broken.step, wall_time=0.0, metrics=MetricsHistory(capacity=2), latest={},
                        parts={"weights": broken}, versions={"weights": 2}, diverged_step=payload.step + 2,
                        diverged="the loss became NaN")
    assert canvas.push(diverged)
    np.testing.assert_array_equal(upload.written[id(view.tiles.tiles[0].image.texture)], KNOWN)  # not NaN
    assert view.status.visible
    assert view.status.text == f"diverged at step {payload.step + 2}: the tiles show step {payload.step}"
    after = canvas.render()
    tile_rows = slice(40, 260)
    # the same picture (with a label over it), not a blank or a solid colour
    assert np.abs(before[tile_rows, :200].astype(int) - after[tile_rows, :200]).mean() < 8


def test_a_short_plot_keeps_its_legend_out_of_the_data_area(view_canvas, trained_weights):
    from gpuviz_app.render.plot import MARGINS

    view = WeightsView()
    canvas = view_canvas([view], size=(640, 300))
    canvas.push(trained_weights)
    canvas.render()
    plot = view.health.grad
    assert plot.view.size[1] < 12 * len(plot.legend)  # too short for one entry a line
    if plot.shown["legend"]:
        assert all(label.pos[1] < MARGINS[2] for label in plot.shown["legend"])  # on the title line, not over the curves


def test_the_colour_range_grows_with_the_run_and_travels_with_each_step(view_canvas):
    """The probe keeps the largest |w| pictured so far: shrinking weights keep their colours live,
    and that range is in the step's payload, so a fresh view replaying the step shows the same."""
    model = nn.Sequential(nn.Linear(4, 3))
    context = RunContext(model=model, device=torch.device("cpu"), inputs=torch.zeros(1, 4))
    probe = WeightsProbe(context)
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(KNOWN) * 4.0)
    big = probe(context)
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(KNOWN))
    small = probe(context)
    assert float(small.matrices[0].absmax) == 1.0 and float(small.matrices[0].range_max) == 4.0
    labels = []
    for payloads in ([big, small], [small]):  # live, then a fresh view shown the later step alone
        view = WeightsView()
        canvas = view_canvas([view], size=(480, 320))
        view.set_options({"show": "weights"})
        for version, payload in enumerate(payloads, 1):
            canvas.push(snapshot(payload, version=version, step=version))
        labels.append(view.tiles.tiles[0].bar_text.text)
    assert labels[0] == labels[1] == ["+5", "0", "\u22125"]
