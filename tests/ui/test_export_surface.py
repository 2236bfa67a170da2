"""An export that shows the loss surface waits for a surface centred on the weights it shows."""

import numpy as np
from PIL import Image

from gpuviz_app.ui import export_actions
from gpuviz_app.ui.recorder import panel_layout
from gpuviz_app.ui.surface_wait import surface_of
from tests.ui.conftest import wait_frame, wait_step, wait_taken

SMALL_GRID = {"resolution": 11, "eval_batch": 64, "recentre_every": 0, "recentre_drift": 0.0}


def paused_off_centre(main_window, qtbot):
    """A window with the landscape on screen, paused with its surface centred steps ago (only an
    explicit request re-centres it: no re-centre by steps or drift)."""
    window = main_window("builtin:moons", "--model", "mlp", "--device", "cpu", "--views", "landscape")
    wait_step(qtbot, window, 1, timeout=120_000)
    window.session.configure_probe("landscape", SMALL_GRID)  # a new grid with these options

    def small_grid_done(snap):
        p = surface_of(snap)
        return p is not None and p.state == "done" and p.resolution == 11

    wait_taken(qtbot, window, small_grid_done, timeout=120_000)
    centre = surface_of(window.snapshot).centre_step
    wait_step(qtbot, window, centre + 3, timeout=120_000)
    window.controls.play.trigger()  # pause
    wait_frame(qtbot, window, lambda s: s.paused and s is window.snapshot)
    drawn = window.frames.drawn
    assert surface_of(drawn).centre_step < drawn.step  # the surface is stale before the export
    return window


def test_a_screenshot_shows_the_surface_centred_at_its_step(main_window, qtbot, tmp_path, monkeypatch):
    window = paused_off_centre(main_window, qtbot)
    exporter, wait = window.exporter, window.exporter.surface
    first, second = tmp_path / "cancelled.png", tmp_path / "shot.png"

    only_metrics = tmp_path / "metrics.png"  # a picture without the surface waits for nothing
    monkeypatch.setattr(export_actions, "ask_save_path", lambda *a, **k: str(only_metrics))
    assert exporter.save_screenshot_as("metrics", 1, False)
    assert only_metrics.exists() and not wait.waiting

    monkeypatch.setattr(export_actions, "ask_save_path", lambda *a, **k: str(first))
    assert exporter.save_screenshot_as("dashboard", 1, False)
    assert wait.waiting and wait.widget.isVisible()  # asked for a new centre, nothing written yet
    wait.cancel_button.click()
    assert not wait.waiting and not wait.widget.isVisible()
    assert "Cancelled" in window.statusBar().currentMessage()

    monkeypatch.setattr(export_actions, "ask_save_path", lambda *a, **k: str(second))
    with qtbot.waitSignal(exporter.exported, timeout=180_000) as saved:
        assert exporter.save_screenshot_as("dashboard", 1, False)
        assert wait.waiting
    assert saved.args == [second] and not first.exists()

    drawn = window.frames.drawn
    p = surface_of(drawn)
    assert p.state == "done" and p.centre_step == drawn.step  # the exported frame's surface
    image = Image.open(second)
    assert image.text["gpuviz:step"] == str(drawn.step)
    pixels = np.asarray(image.convert("RGB"))
    _, rects = panel_layout(window, list(window.visible_panels().items()))
    x, y, w, h = rects["landscape"]
    panel = pixels[y:y + h, x:x + w].reshape(-1, 3)
    assert len(np.unique(panel, axis=0)) > 200  # a drawn surface, not a blank panel
    assert not wait.waiting and not wait.widget.isVisible()
