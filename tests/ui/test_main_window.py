import numpy as np
import pytest

from tests.ui.conftest import wait_drawn, wait_frame, wait_step, wait_taken


def canvas_pixels(window, name="metrics"):
    return window.panels[name].canvas.render()


def test_window_trains_and_the_canvas_changes(main_window, qtbot):
    window = main_window("--device", "cpu")
    wait_drawn(qtbot, window, 1)
    first = canvas_pixels(window)
    assert len(np.unique(first.reshape(-1, 4), axis=0)) > 10  # not blank
    step = window.drawn.step
    wait_drawn(qtbot, window, step + 100)
    second = canvas_pixels(window)
    assert not np.array_equal(first, second)
    assert window.status.labels["device"].text().startswith("CPU")
    assert window.status.labels["upload"].text() == "host"


def test_pause_freezes_the_step_counter_and_step_advances_one(main_window, qtbot):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 5)
    window.controls.play.trigger()  # pause
    wait_taken(qtbot, window, lambda s: s.paused, 30_000)
    frozen = window.session.trainer.step_count
    qtbot.wait(500)
    assert window.session.trainer.step_count == frozen
    wait_taken(qtbot, window, lambda s: s.step == frozen, 30_000)
    qtbot.waitUntil(lambda: window.status.labels["step"].text() == f"step {frozen:,}", timeout=5_000)
    assert window.status.labels["state"].text() == "paused"
    window.controls.step.trigger()
    wait_taken(qtbot, window, lambda s: s.step == frozen + 1, 30_000)
    qtbot.wait(300)
    assert window.session.trainer.step_count == frozen + 1
    window.controls.play.trigger()  # resume
    wait_step(qtbot, window, frozen + 20)


def test_controls_reach_the_trainer(main_window, qtbot):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1)
    window.controls.lr.setValue(0.02)
    window.controls.optimizer.setCurrentIndex(window.controls.optimizer.findData("sgd"))
    wait_taken(qtbot, window, lambda s: s.config.optimizer == "sgd", 30_000)
    assert window.snapshot.config.lr == 0.02
    run = window.snapshot.run_id
    window.controls.model.setCurrentIndex(window.controls.model.findData("mlp"))
    wait_taken(qtbot, window, lambda s: s.run_id == run + 1 and s.model == "mlp")


def test_reset_restarts_from_step_zero(main_window, qtbot):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 50)
    run = window.snapshot.run_id
    window.controls.play.trigger()  # pause, so the new run stays at its start
    window.controls.reset.trigger()
    wait_taken(qtbot, window, lambda s: s.run_id == run + 1, 30_000)
    assert window.snapshot.step == 0
    assert window.snapshot.metrics.total("train_loss") == 0


def test_closing_mid_training_joins_the_worker(main_window, qtbot):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 10)
    thread = window.thread
    assert thread.isRunning()
    window.close()
    assert thread.isFinished()
    assert window.session.stopped


def test_options_are_remembered_by_the_next_window(main_window, qtbot):
    window = main_window("--device", "cpu")
    box = window.panels["metrics"].option_widgets["metrics.loss_axis"]
    box.setCurrentIndex(box.findData("log"))
    window.close()
    again = main_window("--device", "cpu")
    assert again.panels["metrics"].views[0].options()["loss_axis"] == "log"
    assert again.panels["metrics"].option_widgets["metrics.loss_axis"].currentData() == "log"


def test_a_bad_dataset_path_falls_back_to_the_default(main_window, qtbot, tmp_path, monkeypatch):
    from PySide6 import QtWidgets

    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"not a zip")
    window = main_window(str(bad), "--device", "cpu")
    wait_step(qtbot, window, 1)
    qtbot.waitUntil(lambda: bool(shown), timeout=30_000)
    assert "broken.npz" in shown[0]
    assert window.snapshot.dataset.startswith("digits")


def test_only_views_on_screen_run_their_probes(main_window, qtbot):
    window = main_window("--device", "cpu")
    assert window.shown_views() == {"metrics", "weights"}  # the other docks are tabs behind weights
    wait_step(qtbot, window, 1)
    wait_taken(qtbot, window, lambda s: "weights" in s.parts)
    assert "embedding" not in window.snapshot.parts and "landscape" not in window.snapshot.parts
    window.docks["embedding"].raise_()
    assert window.shown_views() == {"metrics", "embedding"}
    wait_taken(qtbot, window, lambda s: s.versions.get("embedding", 0) >= 1, 30_000)
    weights_version = window.snapshot.versions["weights"]
    embedding_version = window.snapshot.versions["embedding"]
    wait_taken(qtbot, window, lambda s: s.versions["embedding"] >= embedding_version + 2, 30_000)
    assert window.snapshot.versions["weights"] == weights_version  # the tab behind no longer computes


def test_views_option_shows_the_named_views_side_by_side(main_window, qtbot):
    window = main_window("--device", "cpu", "--views", "landscape,embedding")
    qtbot.waitUntil(lambda: window.shown_views() == {"metrics", "landscape", "embedding"}, timeout=10_000)
    assert not window.docks["weights"].isVisible()
    top, bottom = window.docks["embedding"].geometry(), window.docks["landscape"].geometry()
    assert top.bottom() < bottom.top() and top.left() == bottom.left()  # one above the other, not tabbed
    assert window.centralWidget().width() > window.width() // 3


class Spent:
    """A display budget that never allows a frame."""

    budget = 0.0

    def ready(self):
        return False

    def wait_s(self):
        return 10.0

    def restart(self):
        pass

    def set_base(self, cores):
        pass


def test_a_frame_comes_at_least_every_max_frame_gap_whatever_the_budget(main_window, qtbot):
    from gpuviz_app.ui.frame_loop import MAX_FRAME_GAP_S

    window = main_window("--device", "cpu", pacer=Spent())
    wait_frame(qtbot, window, lambda s: s.step > 0, 60_000)
    first = window.drawn.step
    wait_frame(qtbot, window, lambda s: s.step > first, int(4_000 * MAX_FRAME_GAP_S))


def test_the_first_and_last_training_frames_are_drawn_at_once_others_wait_for_the_budget(main_window, qtbot):
    import time

    from gpuviz_app.ui.frame_loop import MAX_FRAME_GAP_S

    window = main_window("--device", "cpu", "--steps", "400", pacer=Spent())
    draws = []
    window.frames.frame_drawn.connect(lambda snap: draws.append((time.monotonic(), snap)))
    wait_frame(qtbot, window, lambda s: s.step > 0, 60_000)
    first = window.drawn.step
    wait_step(qtbot, window, first + 50)
    assert first < 400
    wait_frame(qtbot, window, lambda s: s.finished, 120_000)  # the end of training is shown at once
    assert window.drawn.step == 400
    trained = [(t, snap) for t, snap in draws if snap.step >= first]
    assert trained[0][1].step == first and trained[-1][1].finished
    between = trained[:-1]  # after the first, a frame only when MAX_FRAME_GAP_S was up (the budget is spent)
    for (t0, _), (t1, _) in zip(between, between[1:]):
        assert t1 - t0 >= 0.9 * MAX_FRAME_GAP_S


def test_the_display_rate_choice_sets_the_budget_and_is_remembered(main_window, qtbot, monkeypatch):
    from gpuviz_app.ui.pacing import DISPLAY_SHARES, share_budget

    monkeypatch.delenv("GPUVIZ_DISPLAY_BUDGET", raising=False)
    window = main_window("--device", "cpu", show=False)
    assert window.frames.pacer.budget == pytest.approx(share_budget(0.02))
    smooth = next(a for a in window.display_rate.actions() if a.data() == DISPLAY_SHARES[-1][1])
    smooth.trigger()
    assert window.frames.pacer.budget == pytest.approx(share_budget(DISPLAY_SHARES[-1][1]))
    window.close()
    again = main_window("--device", "cpu", show=False)
    assert again.frames.pacer.budget == pytest.approx(share_budget(DISPLAY_SHARES[-1][1]))
    assert again.display_rate.checkedAction().data() == DISPLAY_SHARES[-1][1]
