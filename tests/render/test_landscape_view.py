import math

import numpy as np
import pytest
import torch

from gpuviz_app.core.probes.landscape.payload import LandscapePayload
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.upload import HostUpload
from gpuviz_app.render.views.landscape import MARKER_COLOR, PATH_COLOR, LandscapeView
from gpuviz_app.render.visuals.surface import colormap_rgba, unit_height


def bowl(n: int, corner: float | None = None) -> torch.Tensor:
    t = torch.linspace(-1, 1, n)
    grid = 0.2 + 2.0 * (t[:, None] ** 2 + 0.5 * t[None, :] ** 2)
    if corner is not None:
        grid[0, 0] = corner
        grid[0, 1] = 3.0e38  # a diverged point
    return grid


def payload(n=31, mode="random", version=1, path_version=1, **kw) -> LandscapePayload:
    grid = bowl(n) if mode != "slice" else bowl(n)[n // 2]
    path = torch.tensor([[0.0, 0.0, 0.2], [0.3, 0.2, 0.5], [0.6, 0.5, 1.1]])
    values = dict(mode=mode, state="done", grid=grid, resolution=n, finished_side=n, progress=1.0,
                  span=(1.0, 1.0), centre_step=0, centre_loss=0.2, low=0.2, clip=3.2, path=path,
                  path_steps=(0, 10, 20), eval_batch=256, grid_version=version, path_version=path_version)
    values.update(kw)
    return LandscapePayload(**values)


def snap(p: LandscapePayload, run_id: int = 1) -> Snapshot:
    return Snapshot(run_id=run_id, step=20, wall_time=0.0, metrics=None, latest={}, parts={"landscape": p},
                    versions={"landscape": p.grid_version})


def hits(pixels, color: str, tol: int = 40) -> int:
    rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)])
    return int(np.all(np.abs(pixels[..., :3].astype(int) - rgb) < tol, axis=-1).sum())


def cmap_hits(pixels, at: float, tol: int = 30) -> int:
    rgb = colormap_rgba()[0, int(at * 255), :3].astype(int)
    return int(np.all(np.abs(pixels[..., :3].astype(int) - rgb) < tol, axis=-1).sum())


def test_the_surface_is_drawn_with_its_colormap_path_and_current_point(view_canvas):
    view = LandscapeView()
    canvas = view_canvas([view], size=(640, 480))
    assert canvas.push(snap(payload()))
    pixels = canvas.render()
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 200  # shaded and coloured
    assert cmap_hits(pixels, 0.0, tol=40) > 50  # the bottom of the bowl: the low end of the colour map
    assert hits(pixels, PATH_COLOR) > 20
    assert hits(pixels, MARKER_COLOR) > 20
    assert "complete" in view.heading.text


def test_grid_writes_go_into_the_same_fixed_texture(view_canvas):
    view = LandscapeView()
    canvas = view_canvas([view])
    texture = view.surface.height
    canvas.push(snap(payload(n=31)))
    canvas.render()
    upload = HostUpload()
    view.update(snap(payload(n=11, version=2)), upload)
    assert view.surface.height is texture and view.surface.n == 11
    assert upload.bytes_uploaded > 11 * 11 * 4
    before = upload.bytes_uploaded
    assert not view.update(snap(payload(n=11, version=2)), upload)  # nothing new: no upload, no redraw
    assert upload.bytes_uploaded == before
    canvas.render()


def test_the_log_scale_and_contours_are_uniforms_not_uploads(view_canvas):
    view = LandscapeView()
    canvas = view_canvas([view])
    canvas.push(snap(payload()))
    linear = canvas.render()
    upload = canvas.upload
    before = upload.bytes_uploaded
    view.set_option("log_loss", True)
    assert canvas.push(snap(payload()))
    logged = canvas.render()
    assert upload.bytes_uploaded == before
    assert not np.array_equal(linear, logged)
    assert view.colorbar.label.text == "loss (log scale)"
    view.set_option("contours", False)
    canvas.push(snap(payload()))
    assert not np.array_equal(logged, canvas.render())


def test_the_contour_map_mode_is_flat_and_shows_the_whole_square(view_canvas):
    view = LandscapeView()
    canvas = view_canvas([view], size=(500, 400))
    canvas.push(snap(payload()))
    surface = canvas.render()
    view.set_option("display", "map")
    canvas.push(snap(payload()))
    flat = canvas.render()
    assert view.view.camera is view.panzoom
    assert not np.array_equal(surface, flat)
    # a flat map: both ends of the colour map are visible (the bowl's centre and its corners)
    assert cmap_hits(flat, 0.0) > 50 and cmap_hits(flat, 1.0, tol=40) > 50


def test_divergent_losses_are_clipped_so_the_surface_stays_readable(view_canvas):
    view = LandscapeView()
    canvas = view_canvas([view], size=(500, 400))
    view.set_option("display", "map")
    canvas.push(snap(payload(grid=bowl(31, corner=1e6))))
    pixels = canvas.render()
    assert cmap_hits(pixels, 0.0) > 50 and cmap_hits(pixels, 0.5, tol=25) > 50
    assert np.isfinite(pixels).all()


def test_the_slice_mode_draws_a_profile(view_canvas):
    view = LandscapeView()
    canvas = view_canvas([view], size=(500, 400))
    canvas.push(snap(payload(mode="slice", path=torch.tensor([[0.0, 0.0, 0.2], [0.2, 0.0, 0.4]]))))
    pixels = canvas.render()
    assert not view.surface.visible and view.profile.visible
    assert hits(pixels, "#88c0d0") > 100


def test_an_error_shows_its_message(view_canvas):
    view = LandscapeView()
    canvas = view_canvas([view])
    assert canvas.push(snap(LandscapePayload(state="error", message="landscape failed: boom")))
    assert "boom" in view.heading.text
    canvas.render()


def test_probe_options_follow_the_view_options():
    view = LandscapeView()
    view.set_options({"directions": "pca", "resolution": 41, "eval_batch": 128})
    opts = view.probe_options()
    assert opts == {"mode": "pca", "resolution": 41, "eval_batch": 128, "span": 1.0, "recentre_every": 500,
                    "include_bias": False}
    view.set_options({"display": "map", "log_loss": True})  # drawing only: the probe is not told
    assert view.probe_options() == opts


def test_re_centre_is_an_action_for_the_probe_not_an_option():
    assert [(a.name, a.label) for a in LandscapeView.ACTIONS] == [("recentre", "Re-centre")]
    assert "recentre" not in LandscapeView.default_options()
    assert "recentre" not in LandscapeView().probe_options()


def test_a_real_payload_from_training_renders(view_canvas):
    from gpuviz_app.core.probes import probe_factories
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.builtin import digits

    s = TrainingSession(digits, device="cpu", probes=probe_factories({"landscape"}))
    s.configure_probe("landscape", {"resolution": 11, "eval_batch": 64, "mode": "random", "recentre_drift": 0.0})
    s.advance(0, settle=True)
    snapshot = s.advance(30, settle=True)
    s.close()
    p = snapshot.parts["landscape"]
    assert p.state == "done" and p.path.shape[0] >= 2 and math.isfinite(p.clip)
    view = LandscapeView()
    canvas = view_canvas([view])
    assert canvas.push(snapshot)
    pixels = canvas.render()
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 100
    assert hits(pixels, MARKER_COLOR) > 10


@pytest.mark.gpu
def test_the_probe_computes_on_cuda_and_the_view_draws_it(view_canvas):
    from gpuviz_app.core.probes import probe_factories
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.builtin import digits

    s = TrainingSession(digits, device="cuda", probes=probe_factories({"landscape"}))
    s.configure_probe("landscape", {"resolution": 41})
    s.advance(0, settle=True)
    snapshot = s.advance(50, settle=True)
    s.close()
    p = snapshot.parts["landscape"]
    assert p.grid.is_cuda and p.state == "done" and p.grid.shape == (41, 41)
    view = LandscapeView()
    canvas = view_canvas([view])
    assert canvas.push(snapshot)
    assert len(np.unique(canvas.render().reshape(-1, 4), axis=0)) > 100


def marker_centre(pixels) -> np.ndarray:
    rgb = np.array([int(MARKER_COLOR[i : i + 2], 16) for i in (1, 3, 5)])
    ys, xs = np.nonzero(np.all(np.abs(pixels[..., :3].astype(int) - rgb) < 30, axis=-1))
    assert len(xs) > 20
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.parametrize("log", [False, True], ids=["linear", "log"])
def test_the_current_point_sits_on_the_surface_at_its_measured_loss(view_canvas, log):
    n, i, j = 31, 23, 9
    grid = bowl(n)
    alpha, beta = 2 * i / (n - 1) - 1, 2 * j / (n - 1) - 1  # the plane coordinates of grid[i, j]
    loss = float(grid[i, j])
    path = torch.tensor([[0.0, 0.0, 0.2], [alpha, beta, loss]])
    view = LandscapeView()
    view.set_option("log_loss", log)
    canvas = view_canvas([view], size=(640, 480))
    canvas.push(snap(payload(grid=grid, path=path)))
    pixels = canvas.render()
    # the z the surface's shaders give grid[i, j], computed on the host with the same transform
    z = float(unit_height(loss, 0.2, 3.2, log))
    assert 0.05 < z < 0.95
    to_canvas = view.surface.get_transform("visual", "canvas")
    on_surface = to_canvas.map([alpha, beta, z, 1.0])
    expected = on_surface[:2] / on_surface[3]
    assert np.abs(marker_centre(pixels) - expected).max() < 2.5
    # a loss one tenth of the scale higher would be drawn visibly elsewhere: the check has teeth
    higher = to_canvas.map([alpha, beta, min(z + 0.1, 1.0), 1.0])
    assert np.abs(higher[:2] / higher[3] - expected).max() > 8


def test_the_colour_bar_and_the_height_axis_are_labelled_with_the_surface_s_scale(view_canvas):
    view = LandscapeView()
    canvas = view_canvas([view], size=(640, 480))
    canvas.push(snap(payload(low=0.2, clip=3.2)))
    with_axis = canvas.render()
    assert view.colorbar.label.text == "loss"
    assert [t.text for t in view.colorbar._colorbar._ticks] == ["0.2", "3.2"]
    labels = [float(v) for v in view.height_text.text]
    assert view.height_axis.visible and len(labels) >= 3 and labels == sorted(labels)
    assert 0.2 <= labels[0] and labels[-1] <= 3.2 and labels[-1] - labels[0] >= 1.5
    assert hits(with_axis, "#d8dee9") > 30  # the tick labels are drawn
    heights = [float(unit_height(float(v), 0.2, 3.2, False)) for v in view.height_text.text]
    assert [round(float(p[2]), 5) for p in view.height_text.pos] == [round(h, 5) for h in heights]
    view.set_option("log_loss", True)
    canvas.push(snap(payload(low=0.2, clip=3.2)))
    assert view.colorbar.label.text == "loss (log scale)"
    logged = [float(v) for v in view.height_text.text]
    assert len(logged) >= 3 and 1.0 in logged
    # on a log scale, equal ratios are equal heights
    assert [round(float(p[2]), 5) for p in view.height_text.pos] == [
        round(float(unit_height(v, 0.2, 3.2, True)), 5) for v in logged]
    view.set_option("display", "map")
    canvas.push(snap(payload(low=0.2, clip=3.2)))
    assert not view.height_axis.visible  # the flat map is read off the colour bar


def test_two_frames_of_the_same_completed_surface_give_a_loss_the_same_colour(view_canvas):
    """The path moves on (and below the surface) between frames; the colours of the grid stay."""
    from gpuviz_app.core.probes import probe_factories
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.builtin import digits

    s = TrainingSession(digits, device="cpu", probes=probe_factories({"landscape"}))
    s.configure_probe("landscape", {"resolution": 11, "eval_batch": 64, "recentre_every": 0,
                                    "recentre_drift": 0.0})
    s.advance(0, settle=True)
    first = s.advance(10, settle=True)
    second = s.advance(20, settle=True)
    s.close()
    a, b = first.parts["landscape"], second.parts["landscape"]
    assert a.state == b.state == "done" and a.grid_version == b.grid_version
    assert float(b.path[:, 2].min()) < float(a.path[:, 2].min())  # the path reached lower losses
    view = LandscapeView()
    view.set_option("display", "map")
    canvas = view_canvas([view], size=(500, 400))
    canvas.push(first)
    one = canvas.render()
    canvas.push(second)
    two = canvas.render()
    path_or_marker = np.zeros(one.shape[:2], bool)
    for pixels in (one, two):
        for color in (PATH_COLOR, MARKER_COLOR):
            rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)])
            near = np.all(np.abs(pixels[..., :3].astype(int) - rgb) < 60, axis=-1)
            path_or_marker |= near
    grow = path_or_marker.copy()  # anti-aliased edges of the line and the dot
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            grow |= np.roll(np.roll(path_or_marker, dy, 0), dx, 1)
    same = np.all(one[..., :3] == two[..., :3], axis=-1) | grow
    assert same.mean() == 1.0
    assert cmap_hits(one, 0.0) > 50 and cmap_hits(one, 1.0, tol=40) > 50  # a coloured map was compared
