"""Export in the window: screenshots, video recording, CSV, from the menus and the recorder."""

import numpy as np
import pytest
from PySide6 import QtGui, QtWidgets

from gpuviz_app.export.frames import read_back, render_view
from tests.export.metrics_csv_reader import read_metrics_csv
from gpuviz_app.export.video import VideoWriter
from gpuviz_app.ui import export_actions
from gpuviz_app.ui.export_actions import RecordDialog, RecordSettings
from tests.export.decode import assert_consecutive_frames_differ, decode_video, part_files
from tests.render.test_export_render import blurred_correlation, curve_rows, downsample
from tests.ui.conftest import wait_frame, wait_step


def paused_window(main_window, qtbot, steps=20):
    """A window trained `steps`+ steps, paused, with its display showing the last snapshot."""
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, steps, timeout=120_000)
    window.controls.play.trigger()
    wait_frame(qtbot, window, lambda s: s.paused and s is window.snapshot)  # drawn, and the newest
    qtbot.wait(300)  # the paint that follows the last push
    return window


def test_menu_and_shortcuts(main_window):
    window = main_window("--device", "cpu", show=False)
    texts = {a.text(): a for a in window.file_menu.actions()}
    assert texts["Export &screenshot…"].shortcut() == QtGui.QKeySequence("Ctrl+Shift+S")
    assert texts["&Record video…"].shortcut() == QtGui.QKeySequence("Ctrl+Shift+R")
    assert "Export metrics &CSV…" in texts
    assert window.findChild(QtWidgets.QToolBar, "export-toolbar") is not None
    # two actions on one key make Qt fire neither
    keys = [a.shortcut().toString() for a in window.findChildren(QtGui.QAction) if not a.shortcut().isEmpty()]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


def test_a_2x_screenshot_is_twice_the_view_and_shows_what_the_canvas_shows(main_window, qtbot, tmp_path):
    window = paused_window(main_window, qtbot)
    canvas = window.panels["metrics"].canvas
    live = read_back(canvas)  # the frame on screen now
    w, h = canvas.canvas.size
    assert np.array_equal(render_view(canvas)[..., :3], live[..., :3])  # 1x offscreen == on screen
    path = window.exporter.save_screenshot(str(tmp_path / "m.png"), "metrics", scale=2)
    from PIL import Image

    image = Image.open(path)
    assert image.size == (2 * w, 2 * h)
    assert image.text["gpuviz:step"] == str(window.snapshot.step)
    assert image.text["gpuviz:dataset"] == window.snapshot.dataset
    assert float(image.text["gpuviz:train_loss"]) == pytest.approx(window.snapshot.latest["train_loss"], rel=1e-5)
    big = np.asarray(image)
    assert blurred_correlation(live, downsample(big, 2)) > 0.9
    rows_live, rows_big = curve_rows(live), curve_rows(big[:, ::2]) / 2
    both = ~np.isnan(rows_live) & ~np.isnan(rows_big)
    assert both.sum() > 100 and np.median(np.abs(rows_live[both] - rows_big[both])) < 1.5
    assert part_files(tmp_path) == []


def test_dashboard_screenshot_transparent_and_clipboard(main_window, qtbot, tmp_path):
    window = paused_window(main_window, qtbot, steps=10)
    ex = window.exporter
    path = ex.save_screenshot(str(tmp_path / "d.png"), "dashboard", scale=2, transparent=True)
    from PIL import Image

    image = Image.open(path)
    native = window.panels["metrics"].canvas.native
    assert image.size[0] >= 2 * native.width() and image.size[1] >= 2 * native.height()
    assert image.mode == "RGBA" and np.asarray(image)[..., 3].min() == 0
    with pytest.raises(Exception, match="exists"):
        ex.save_screenshot(str(path), "dashboard")  # never replaced without asking
    ex.copy_screenshot("metrics", scale=1)
    copied = QtWidgets.QApplication.clipboard().image()
    assert (copied.width(), copied.height()) == (native.width(), native.height())


def test_the_screenshot_dialog_saves_where_the_user_chose(main_window, qtbot, tmp_path, monkeypatch):
    window = paused_window(main_window, qtbot, steps=5)
    target = tmp_path / "chosen.png"
    monkeypatch.setattr(export_actions, "ask_save_path", lambda *a, **k: str(target))
    assert window.exporter.save_screenshot_as("metrics", 4, False)
    from PIL import Image

    w, h = window.panels["metrics"].canvas.canvas.size
    assert Image.open(target).size == (4 * w, 4 * h)


@pytest.mark.parametrize("ext", ["mp4", "webm", "gif"])
def test_recording_a_view_while_training(main_window, qtbot, tmp_path, ext):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1, timeout=120_000)
    out = tmp_path / f"rec.{ext}"
    rec = window.exporter.recorder.start("metrics", out, fps=30)
    assert window.frames.pacer.extra > 0  # the display may draw more while recording
    qtbot.waitUntil(lambda: rec.frames >= 4, timeout=60_000)
    assert not out.exists()  # written under a temporary name until it is finished
    qtbot.waitUntil(lambda: window.exporter.status.text().startswith("● REC"), timeout=5_000)
    assert " frames · " in window.exporter.status.text() and "/30 fps" in window.exporter.status.text()
    assert window.exporter.record.iconText() == "Stop"
    assert window.exporter.finish_recording() == out
    assert window.exporter.record.iconText() == "Record"
    assert not rec.encoder.alive
    frames, _, _ = decode_video(out)
    assert abs(len(frames) - rec.frames) <= 1
    w, h = window.panels["metrics"].canvas.canvas.physical_size
    expected = (w + w % 2, h + h % 2) if ext != "gif" else (w, h)
    assert {f.shape for f in frames} == {(expected[1], expected[0], 3)}
    assert_consecutive_frames_differ(frames[:-1])  # the last may repeat the one before (held to the stop)
    assert part_files(tmp_path) == []
    assert window.frames.pacer.extra == 0.0  # extra budget given back
    assert window.frames.pacer.budget == pytest.approx(window.frames.pacer.base)


def test_time_lapse_of_the_dashboard_from_the_record_action(main_window, qtbot, tmp_path, monkeypatch):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1, timeout=120_000)
    out = tmp_path / "lapse.gif"
    monkeypatch.setattr(RecordDialog, "ask", classmethod(lambda cls, w, t: RecordSettings("dashboard", 10, 20)))
    monkeypatch.setattr(export_actions, "ask_save_path", lambda *a, **k: str(out))
    window.exporter.record.trigger()  # File > Record video… (Ctrl+Shift+R)
    rec = window.exporter.recorder.recording
    assert rec is not None and rec.every_steps == 20
    qtbot.waitUntil(lambda: rec.frames >= 3, timeout=60_000)
    assert "every 20 steps" in window.exporter.recorder.status_text()
    window.exporter.record.trigger()  # again: stop
    assert window.exporter.recorder.recording is None
    frames, _, _ = decode_video(out)
    assert abs(len(frames) - rec.frames) <= 1
    buckets = [step // 20 for step in rec.steps]
    assert buckets == sorted(set(buckets))  # one frame per 20 steps at most
    assert_consecutive_frames_differ(frames)
    assert frames[0].shape[:2] == (rec.size[1], rec.size[0])


def test_a_slow_encoder_is_shown_and_never_stalls_training(main_window, qtbot, tmp_path, monkeypatch):
    import threading

    release = threading.Event()
    real_write = VideoWriter.write

    def slow_write(self, pixels, pts=None):
        release.wait(60)
        real_write(self, pixels, pts)

    monkeypatch.setattr(VideoWriter, "write", slow_write)
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1, timeout=120_000)
    rec = window.exporter.recorder.start("metrics", tmp_path / "slow.mp4", fps=30)
    qtbot.waitUntil(lambda: rec.skipped > 0, timeout=60_000)
    qtbot.waitUntil(lambda: "encoder behind" in window.exporter.status.text(), timeout=10_000)
    step = window.session.trainer.step_count
    wait_step(qtbot, window, step + 20, timeout=120_000)  # training goes on while the encoder is stuck
    release.set()
    window.exporter.finish_recording()
    assert (tmp_path / "slow.mp4").exists()


def test_cancel_and_closing_while_recording(main_window, qtbot, tmp_path):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1, timeout=120_000)
    rec = window.exporter.recorder.start("metrics", tmp_path / "cancelled.mp4")
    qtbot.waitUntil(lambda: rec.frames >= 1, timeout=60_000)
    window.exporter.recorder.cancel()
    assert not (tmp_path / "cancelled.mp4").exists() and part_files(tmp_path) == []
    rec = window.exporter.recorder.start("metrics", tmp_path / "closed.webm")
    qtbot.waitUntil(lambda: rec.frames >= 2, timeout=60_000)
    window.close()  # closing keeps what was recorded
    assert not rec.encoder.alive
    assert len(decode_video(tmp_path / "closed.webm")[0]) >= 2


def test_metrics_csv_from_the_menu(main_window, qtbot, tmp_path, monkeypatch):
    window = paused_window(main_window, qtbot, steps=10)
    out = tmp_path / "metrics.csv"
    monkeypatch.setattr(export_actions, "ask_save_path", lambda *a, **k: str(out))
    window.exporter.csv.trigger()
    back = read_metrics_csv(out)
    rows = window.snapshot.metrics.rows("train_loss")
    assert np.array_equal(back["train_loss"]["mean"], rows["mean"])
    assert back["train_loss"]["count"].sum() == window.snapshot.metrics.total("train_loss")


def test_the_dialogs_offer_the_visible_views_and_map_their_choices(main_window, qtbot, monkeypatch):
    from gpuviz_app.ui.screenshot import ScreenshotDialog

    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1, timeout=120_000)  # torch loaded: the window can close cleanly
    copied = []
    dialog = ScreenshotDialog(window, on_save=lambda *c: True, on_copy=lambda *c: copied.append(c))
    keys = [dialog.target.itemData(i) for i in range(dialog.target.count())]
    assert keys[0] == "dashboard" and "metrics" in keys
    dialog.target.setCurrentIndex(keys.index("metrics"))
    dialog.scale.setCurrentIndex(dialog.scale.findData(4))
    dialog.transparent.setChecked(True)
    dialog.copy_button.click()
    assert copied == [("metrics", 4, True)]
    record = RecordDialog(window, "metrics")
    assert record.settings() == RecordSettings("metrics", 30.0, None)
    record.timelapse.setChecked(True)
    record.every.setValue(250)
    record.fps.setValue(24)
    assert record.settings() == RecordSettings("metrics", 24.0, 250)
    window.exporter._fill_record_menu()  # the Record button's menu: one entry per view
    labels = [a.text() for a in window.exporter.record_menu.actions()]
    assert labels[0] == "Dashboard" and "Metrics" in labels
    asked = []
    monkeypatch.setattr(RecordDialog, "ask", classmethod(lambda cls, w, t: asked.append(t)))
    window.exporter.record_menu.actions()[labels.index("Metrics")].trigger()
    assert asked == ["metrics"]
