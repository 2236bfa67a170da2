import numpy as np

from tests.ui.conftest import wait_step


def embedding_frame(window):
    snap = window.snapshot
    return None if snap is None else snap.parts.get("embedding")


def test_embedding_panel_options_reach_the_probe_and_points_can_be_found(main_window, qtbot):
    window = main_window("--device", "cpu")
    dock = window.docks["embedding"]
    dock.show()
    dock.raise_()
    panel = window.panels["embedding"]
    view = panel.views[0]
    wait_step(qtbot, window, 1)
    qtbot.waitUntil(lambda: embedding_frame(window) is not None and view.points is not None, timeout=30_000)
    assert embedding_frame(window).positions.shape == (1797, 2)

    dims = panel.option_widgets["embedding.dims"]
    dims.setCurrentIndex(dims.findData("3-D"))
    qtbot.waitUntil(lambda: embedding_frame(window).dims == 3 and view.points.dims == 3, timeout=30_000)

    controls = panel.extras[0]
    controls.find.setValue(42)
    assert controls.find_sample()
    assert view.selected == 42 and view.info.text.text.startswith("#42  label ")
    controls.find.setValue(10**6)
    assert not controls.find_sample()

    controls.filter.setText("3, 8")
    controls.filter.editingFinished.emit()
    assert view.options()["class_filter"] == "3, 8"
    controls.layer.refill("penultimate")
    names = [controls.layer.itemData(i) for i in range(controls.layer.count())]
    assert "features.0" in names and "head.2" in names
    controls.layer.setCurrentIndex(controls.layer.findData("head.1"))
    qtbot.waitUntil(lambda: embedding_frame(window).layer == "head.1", timeout=30_000)


def test_hovering_a_point_shows_its_sample(main_window, qtbot):
    window = main_window("--device", "cpu")
    window.docks["embedding"].show()
    window.docks["embedding"].raise_()  # in front of its tab group, so its probe runs
    panel = window.panels["embedding"]
    view = panel.views[0]
    window.controls.play.trigger()  # pause: the cloud stays where it is
    qtbot.waitUntil(lambda: embedding_frame(window) is not None and view.points is not None, timeout=30_000)
    qtbot.wait(500)
    view.points.finish_transition()
    positions = view.positions_host()
    mapped = view.points.get_transform("visual", "canvas").map(positions)
    xy = mapped[:, :2] / mapped[:, 3:4]
    for i in range(0, len(xy), 97):
        if view.pick(*xy[i]) is not None:
            break
    target = view.pick(*xy[i])
    assert target is not None
    panel.canvas.canvas.events.mouse_move(pos=tuple(xy[i]), button=None, buttons=[], modifiers=())
    assert view.hovered == target
    assert view.info.text.text.startswith(f"#{target}  label ")
    away = xy[np.isfinite(xy[:, 0])].max(axis=0) + 30  # beyond every point (pick radius: 8 px)
    panel.canvas.canvas.events.mouse_move(pos=tuple(away), button=None, buttons=[], modifiers=())
    assert view.hovered is None
    assert not view.info.text.text  # nothing selected, nothing hovered: the panel is empty
