"""In the window, a diverging run pauses with the banner up and Play showing; Play keeps it going."""

from tests.ui.conftest import wait_step, wait_taken

DIVERGING = ("--device", "cpu", "--model", "mlp", "--optimizer", "sgd", "--lr", "1e6")


def test_a_diverging_run_pauses_says_so_and_play_resumes_it(main_window, qtbot):
    window = main_window(*DIVERGING)
    wait_taken(qtbot, window, lambda s: s.diverged_step is not None and s.paused, 60_000)
    qtbot.waitUntil(lambda: window.status.banner.isVisible(), timeout=10_000)
    assert window.status.banner.text().startswith("training diverged at step 3: the loss is NaN")
    assert window.controls.play.isChecked() and window.controls.play.text() == "Play"
    assert window.controls.lr.text() == "1000000" and window.session.trainer.config.lr == 1e6
    frozen = window.snapshot.step
    window.controls.play.trigger()  # keep training anyway
    wait_step(qtbot, window, frozen + 5, 60_000)
    assert not window.snapshot.paused and window.snapshot.diverged_step == 3
