import math

import numpy as np
import pytest
import torch

from gpuviz_app.core.probes.landscape.payload import LandscapePayload
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.upload import HostUpload
from gpuviz_app.render.views.landscape import MARKER_COLOR, PATH_COLOR, LandscapeView
from gpuviz_app.render.visuals.surface import colormap_rgba


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
    s.configure_probe("landscape", {"resolution": 11, "eval_batch": 64, "mode": "random"})
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
