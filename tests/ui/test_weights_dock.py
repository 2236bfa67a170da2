import numpy as np

from tests.ui.conftest import wait_step


def show_weights(window, qtbot):
    dock = window.docks["weights"]
    dock.show()
    dock.raise_()
    qtbot.waitUntil(lambda: window.panels["weights"].isVisible(), timeout=10_000)
    return window.panels["weights"]


def test_the_weights_dock_renders_under_x(main_window, qtbot):
    window = main_window("--device", "cpu")
    panel = show_weights(window, qtbot)
    view = panel.views[0]
    wait_step(qtbot, window, 20, timeout=90_000)
    qtbot.waitUntil(lambda: view.payload is not None and view.payload.columns >= 10, timeout=90_000)
    pixels = panel.canvas.render()
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 100  # not blank
    assert [t.index for t in view.tiles.tiles] == [0, 1, 2, 3]


def test_the_layer_choice_persists_to_the_next_window(main_window, qtbot):
    window = main_window("--device", "cpu")
    panel = show_weights(window, qtbot)
    combo = panel.option_widgets["weights.layer"]
    combo.setCurrentIndex(combo.findData("3"))
    show = panel.option_widgets["weights.show"]
    show.setCurrentIndex(show.findData("ridgeline"))
    assert panel.views[0].options()["layer"] == "3"
    window.close()
    again = main_window("--device", "cpu")
    options = again.panels["weights"].views[0].options()
    assert options["layer"] == "3" and options["show"] == "ridgeline"
    assert again.panels["weights"].option_widgets["weights.layer"].currentData() == "3"


def test_weights_are_tracked_while_the_dock_is_shown_or_when_asked(main_window, qtbot):
    window = main_window("--device", "cpu", "--views", "metrics")
    wait_step(qtbot, window, 5, timeout=90_000)
    qtbot.waitUntil(lambda: "weights" in window.session.probes, timeout=10_000)  # made after the first frame
    probe = window.session.probes["weights"]
    assert not probe.tracking  # hidden: the tracker is off the training loop
    panel = show_weights(window, qtbot)
    qtbot.waitUntil(lambda: probe.tracking, timeout=10_000)
    window.docks["weights"].hide()
    qtbot.waitUntil(lambda: not probe.tracking, timeout=10_000)
    panel.option_widgets["weights.track_hidden"].setChecked(True)
    qtbot.waitUntil(lambda: probe.tracking, timeout=10_000)
