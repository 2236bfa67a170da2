"""A user's training script run in the window: asked first (menu, drop), run on the training
thread in place of the built-in training, commanded by Pause/Step/Stop, its failure shown, and
its own model drawn by every view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6 import QtWidgets

from tests.ui.conftest import wait_frame, wait_step, wait_taken
from tests.ui.test_datasets import drop
from tests.ui.test_run_switch import texts

SCRIPTS = Path(__file__).parent / "user_scripts"
BLOBS = SCRIPTS / "blobs_mlp.py"
RAISES = SCRIPTS / "raises_at_step_5.py"
LONG = 120_000


def marker_script(tmp_path: Path, steps: int = 40) -> tuple[Path, Path]:
    """A script (no arguments needed) that leaves `ran.txt` beside itself the moment it runs,
    then trains the blobs MLP for `steps` steps."""
    script = tmp_path / "train_blobs.py"
    marker = tmp_path / "ran.txt"
    script.write_text(
        "import runpy, sys\nfrom pathlib import Path\n"
        "Path(__file__).with_name('ran.txt').write_text('ran')\n"
        f"sys.argv = [{str(BLOBS)!r}, '--steps', '{steps}']\n"
        f"runpy.run_path({str(BLOBS)!r}, run_name='__main__')\n")
    return script, marker


def wait_ended(qtbot, window, timeout: int = LONG):
    """Until the script shown has ended and its last snapshot was drawn; returns its source."""
    scripts = window.scripts
    qtbot.waitUntil(lambda: scripts.current is not None and not scripts.running, timeout=timeout)
    source = scripts.current
    if source.attached:
        wait_frame(qtbot, window, lambda s: s.finished and s.model == source.current.name, timeout)
    return source


def confirm_box(qtbot, window) -> QtWidgets.QMessageBox:
    qtbot.waitUntil(lambda: window.scripts.confirm_box is not None, timeout=10_000)
    return window.scripts.confirm_box


def click(box: QtWidgets.QMessageBox, text: str) -> None:
    button = next(b for b in box.buttons() if b.text().replace("&", "") == text)
    button.click()


def test_run_script_asks_first_cancel_never_runs_it_and_run_shows_its_run(main_window, qtbot, tmp_path, monkeypatch):
    script, marker = marker_script(tmp_path)
    window = main_window("builtin:moons", "--device", "cpu", "--views", "metrics")
    wait_step(qtbot, window, 5, timeout=LONG)
    chosen = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (chosen.append(a) or str(script), "")))

    window.scripts.run_action.trigger()
    box = confirm_box(qtbot, window)
    assert chosen and "*.py" in chosen[0][-1]
    assert script.name in box.text() and str(script) in box.informativeText()
    assert "permissions" in box.informativeText()
    assert box.defaultButton() is box.button(QtWidgets.QMessageBox.StandardButton.Cancel)
    click(box, "Cancel")
    qtbot.waitUntil(lambda: window.scripts.confirm_box is None, timeout=10_000)
    before = window.snapshot.step
    wait_step(qtbot, window, before + 20, timeout=LONG)  # the built-in training goes on meanwhile
    assert window.scripts.current is None and window.source is window.session
    assert not marker.exists(), "a refused script ran"

    run = window.snapshot.run_id
    window.scripts.run_action.trigger()
    click(confirm_box(qtbot, window), "Run Script")
    source = wait_ended(qtbot, window)
    assert marker.exists()
    assert source.failure is None and source.current.step_count == 40
    assert window.session.stopped  # the built-in training stopped for the script
    snap = window.drawn
    assert snap.run_id > run and snap.step == 40 and snap.model == "blobs-mlp" and snap.dataset == script.name
    assert all(v._run_id in (-1, snap.run_id) for p in window.panels.values() for v in p.views)
    assert "finished at step 40" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.status.labels["state"].text() == "done", timeout=10_000)
    assert not window.controls.lr.isEnabled()  # the built-in settings do not apply to a script

    from gpuviz_app.data.open import load_dataset

    window.datasets.apply(load_dataset("builtin:moons"), "builtin:moons")  # back to the built-in training
    wait_taken(qtbot, window, lambda s: s.run_id > snap.run_id and s.model == "mlp" and s.step >= 5, LONG)
    assert window.source is window.session and window.controls.lr.isEnabled()


def test_dropping_a_python_file_asks_before_running_it(main_window, qtbot, tmp_path):
    script, marker = marker_script(tmp_path)
    window = main_window("builtin:moons", "--device", "cpu", "--views", "metrics")
    wait_step(qtbot, window, 1, timeout=LONG)
    assert drop(window, [script])
    box = confirm_box(qtbot, window)
    assert script.name in box.text() and "permissions" in box.informativeText()
    assert window.datasets.progress.isHidden()  # not loaded as a dataset
    click(box, "Cancel")
    qtbot.waitUntil(lambda: window.scripts.confirm_box is None, timeout=10_000)
    assert window.scripts.current is None and not marker.exists()
    assert drop(window, [script])
    click(confirm_box(qtbot, window), "Run Script")
    source = wait_ended(qtbot, window)
    assert marker.exists() and source.failure is None and window.drawn.model == "blobs-mlp"


def test_a_script_that_raises_shows_its_traceback_and_the_window_runs_another(main_window, qtbot, tmp_path):
    window = main_window("builtin:moons", "--device", "cpu", "--views", "metrics")
    wait_step(qtbot, window, 1, timeout=LONG)
    window.scripts.run(str(RAISES))
    source = wait_ended(qtbot, window)
    assert source.failure is not None
    box = window.scripts.message_box
    assert box is not None and box.icon() == QtWidgets.QMessageBox.Icon.Critical
    assert "raises_at_step_5.py failed at step 5" in box.text()
    assert "ValueError: broken on purpose at step 5" in box.detailedText()
    assert "broken_loader" in box.detailedText() and str(RAISES) in box.detailedText()
    assert "failed" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.status.labels["state"].text() == "error", timeout=10_000)
    assert window.isVisible()
    # the last good picture stays: the script's five steps, drawn
    assert window.drawn.model == "raises" and window.drawn.step == 5
    assert window.drawn.metrics.total("train_loss") == 5
    pixels = window.panels["metrics"].canvas.render()
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 10

    box.close()
    window.scripts.run(str(BLOBS), ["--steps", "30"])
    second = wait_ended(qtbot, window)
    assert second is not source and second.failure is None
    assert window.drawn.model == "blobs-mlp" and window.drawn.step == 30 and not window.drawn.error


def test_pause_holds_the_script_step_lets_exactly_one_through_and_stop_ends_it(main_window, qtbot, tmp_path):
    marker = tmp_path / "ran.txt"
    window = main_window("builtin:moons", "--device", "cpu", "--views", "metrics")
    wait_step(qtbot, window, 1, timeout=LONG)
    window.scripts.run(str(BLOBS), ["--marker", str(marker)])  # a million steps unless stopped
    wait_taken(qtbot, window, lambda s: s.model == "blobs-mlp" and s.step >= 5, LONG)
    source = window.scripts.current
    assert window.scripts.stop_action.isEnabled() and window.scripts.stop_action.isVisible()

    window.controls.play.trigger()  # pause
    wait_taken(qtbot, window, lambda s: s.model == "blobs-mlp" and s.paused, LONG)
    frozen = window.snapshot.step
    assert source.current.step_count == frozen
    qtbot.wait(500)
    assert source.current.step_count == frozen  # held at viz.step
    qtbot.waitUntil(lambda: window.status.labels["state"].text() == "paused", timeout=10_000)

    window.controls.step.trigger()
    wait_taken(qtbot, window, lambda s: s.step == frozen + 1, LONG)
    qtbot.wait(300)
    assert source.current.step_count == frozen + 1

    window.controls.play.trigger()  # resume
    wait_taken(qtbot, window, lambda s: s.step >= frozen + 20 and not s.paused, LONG)
    window.scripts.stop_action.trigger()
    wait_ended(qtbot, window)
    assert source.stopped and source.failure is None
    assert source.current.step_count < 1_000_000
    assert "stopped at step" in window.statusBar().currentMessage()
    assert not window.scripts.stop_action.isEnabled()


def rendered(window, name: str) -> np.ndarray:
    return window.panels[name].canvas.render()


def distinct_colours(pixels: np.ndarray) -> int:
    return len(np.unique(pixels.reshape(-1, 4), axis=0))


def test_the_weights_embedding_and_landscape_views_draw_the_script_model(main_window, qtbot):
    names = ("weights", "embedding", "landscape")
    window = main_window("builtin:moons", "--device", "cpu", "--views", "all")
    surface = window.panels["landscape"].option_widgets
    for key, value in (("landscape.resolution", 11), ("landscape.eval_batch", 64)):  # a small grid: quick
        surface[key].setCurrentIndex(surface[key].findData(value))
        assert surface[key].currentData() == value
    for name in names:
        qtbot.waitUntil(lambda name=name: window.panels[name].has_canvas, timeout=LONG)
    wait_frame(qtbot, window, lambda s: s.step >= 20 and all(s.parts.get(n) is not None for n in names), LONG)
    qtbot.wait(200)
    builtin = {name: rendered(window, name) for name in names}
    builtin_labels = [layer["label"] for layer in window.panels["weights"].views[0].payload.layers]

    window.scripts.run(str(BLOBS), ["--steps", "120"])
    wait_ended(qtbot, window)
    qtbot.wait(200)
    snap = window.drawn
    assert snap.model == "blobs-mlp" and snap.step == 120

    weights = window.panels["weights"].views[0]
    labels = [layer["label"] for layer in weights.payload.layers]
    assert labels == ["1 linear 40\u00d76", "2 linear 24\u00d740", "3 linear 4\u00d724"], labels
    assert labels != builtin_labels
    shown = " ".join(texts(window.panels["weights"].canvas.canvas.scene))
    assert all(label in shown for label in labels) and not any(b in shown for b in builtin_labels)

    embedding = window.panels["embedding"].views[0]
    assert embedding.frame is not None and list(embedding.frame.classes) == ["0", "1", "2", "3"]
    assert len(np.asarray(embedding.frame.positions)) == 300  # the script's sample, not the built-in one

    landscape = snap.parts["landscape"]
    assert landscape.state == "done" and landscape.centre_step == 120

    for name in names:
        view = window.panels[name].views[0]
        assert view._run_id == snap.run_id, name
        pixels = rendered(window, name)
        assert distinct_colours(pixels) > 50, f"the {name} view is blank"
        changed = np.abs(pixels.astype(int) - builtin[name].astype(int)).sum(axis=-1) > 30
        assert changed.mean() > 0.02, f"the {name} view still shows the built-in run"


def test_the_command_line_script_runs_at_once_to_its_nth_step_and_the_window_quits(qtbot, tmp_path, capfd):
    """`gpuviz run --steps 20 --quit-when-done SCRIPT.py ARGS` as the window gets it from `cli`."""
    from gpuviz_app.ui import lifetime
    from gpuviz_app.ui.launch_options import LaunchOptions
    from gpuviz_app.ui.main_window import MainWindow

    marker = tmp_path / "ran.txt"
    options = LaunchOptions(steps=20, quit_when_done=True, views=("metrics", "weights"), script=str(BLOBS),
                            script_args=("--marker", str(marker)))
    window = MainWindow(options)
    try:
        window.show()
        qtbot.waitUntil(lambda: not window.isVisible() and window.scripts.current is not None, timeout=LONG)
        source = window.scripts.current
        assert window.session is None  # the built-in training never started
        assert window.exit_code == 0 and source.failure is None
        assert source.current.step_count == 20 and marker.exists()
        assert f"ran {BLOBS} for 20 steps" in capfd.readouterr().err
    finally:
        window.close()
        if window.thread is not None:
            window.thread.wait(60_000)
        window.deleteLater()
    qtbot.wait(10)
    assert not lifetime.leaks()
