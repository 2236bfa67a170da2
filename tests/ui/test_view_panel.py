"""The view panel: controls built from the view's declarations, a canvas made only once on screen."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.core.view_names import VIEW_NAMES
from gpuviz_app.render.upload import HostUpload
from gpuviz_app.render.views import make_view
from gpuviz_app.render.views.base import CHECK, CHOICE
from gpuviz_app.ui.panels import EXTRA_CONTROLS, ViewPanel


@pytest.fixture
def panels(qtbot):
    made = []

    def make(name: str, **kwargs) -> ViewPanel:
        panel = ViewPanel([make_view(name)], HostUpload(), **kwargs)
        qtbot.addWidget(panel)
        made.append(panel)
        return panel

    yield make
    for panel in made:
        if panel.canvas is not None:
            panel.canvas.close()


def metrics_snapshot() -> Snapshot:
    history = MetricsHistory(capacity=64)
    history.append("train_loss", np.arange(1, 51), np.linspace(2.3, 0.4, 50))
    return Snapshot(run_id=1, step=50, wall_time=0.0, metrics=history, latest={})


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_one_control_per_declared_option_and_action(panels, name):
    panel = panels(name)
    view = panel.views[0]
    expected = {f"{name}.{o.name}" for o in view.OPTIONS if o.control} | {f"{name}.{a.name}" for a in view.ACTIONS}
    assert set(panel.option_widgets) == expected
    for option in view.OPTIONS:
        widget = panel.option_widgets.get(f"{name}.{option.name}")
        if option.control == CHECK:
            assert isinstance(widget, QtWidgets.QCheckBox) and widget.text() == option.text
            assert widget.isChecked() == option.default
        elif option.control == CHOICE:
            assert isinstance(widget, QtWidgets.QComboBox)
            assert [widget.itemData(i) for i in range(widget.count())] == list(option.choices)
            assert [widget.itemText(i) for i in range(widget.count())] == [option.choice_text(c)
                                                                          for c in option.choices]
            assert widget.currentData() == option.default
        else:  # no generic control: the view's own controls must show it
            assert name in EXTRA_CONTROLS, f"{name}.{option.name} has no control"
    for action in view.ACTIONS:
        button = panel.option_widgets[f"{name}.{action.name}"]
        assert isinstance(button, QtWidgets.QPushButton) and button.text() == action.label
    assert len(panel.extras) == (1 if name in EXTRA_CONTROLS else 0)


def test_a_control_changes_the_option_and_reports_it(panels):
    changed = []
    panel = panels("landscape", on_options=changed.append)
    view = panel.views[0]
    grid = panel.option_widgets["landscape.resolution"]
    grid.setCurrentIndex(grid.findData(51))
    panel.option_widgets["landscape.log_loss"].setChecked(True)
    assert view.options()["resolution"] == 51 and view.options()["log_loss"] is True
    assert changed == [view, view]
    assert view.probe_options()["resolution"] == 51


def test_the_re_centre_button_asks_for_the_action(panels):
    actions, changed = [], []
    panel = panels("landscape", on_options=changed.append, on_action=lambda v, a: actions.append((v, a)))
    panel.option_widgets["landscape.recentre"].click()
    assert actions == [(panel.views[0], "recentre")]
    assert not changed  # an action is not an option change


def test_restored_options_are_shown_by_the_controls(panels):
    panel = panels("embedding")
    view = panel.views[0]
    view.set_options({"dims": "3-D", "animate": False, "class_filter": "3, 8", "layer": "head.1"})
    panel.sync_option_widgets()
    assert panel.option_widgets["embedding.dims"].currentData() == "3-D"
    assert not panel.option_widgets["embedding.animate"].isChecked()
    controls = panel.extras[0]
    assert controls.filter.text() == "3, 8" and controls.layer.currentData() == "head.1"


def test_the_embedding_controls_set_options_before_any_canvas(panels):
    changed = []
    panel = panels("embedding", on_options=changed.append)
    controls = panel.extras[0]
    controls.filter.setText("1 2")
    controls.filter.editingFinished.emit()
    assert panel.views[0].options()["class_filter"] == "1 2" and changed
    assert not controls.find_sample()  # nothing embedded yet: not found, no error
    assert panel.canvas is None


def test_the_canvas_is_made_when_the_panel_is_first_shown(panels, qtbot):
    snapshot = metrics_snapshot()
    panel = panels("metrics")
    created = []
    panel.canvas_created.connect(created.append)
    assert panel.canvas is None and not panel.has_canvas
    assert panel.push(snapshot) is False  # no canvas: nothing drawn, kept for later
    assert panel.set_device("cpu") is None
    panel.show()
    qtbot.waitUntil(lambda: panel.has_canvas, timeout=5_000)
    assert created == [panel.canvas]
    view = panel.views[0]
    assert view.parent is not None  # attached only now
    assert view._last is not None  # the snapshot pushed while hidden was drawn on creation
    assert panel.canvas.upload.name == "host" and "CPU" in panel.canvas.upload.reason
    upload = panel.set_device("cpu")
    assert upload is panel.canvas.upload  # already chosen for this device: kept
    assert panel.push(snapshot) is False  # nothing new to draw
    panel.hide()
    panel.show()
    qtbot.wait(20)
    assert created == [panel.canvas]  # made once


def test_a_dock_tab_behind_another_has_no_canvas_until_raised(qtbot):
    window = QtWidgets.QMainWindow()
    qtbot.addWidget(window)
    window.setCentralWidget(QtWidgets.QLabel("centre"))
    docks = {}
    for name in ("weights", "landscape"):
        dock = QtWidgets.QDockWidget(name, window)
        dock.setWidget(ViewPanel([make_view(name)], HostUpload(), dock))
        window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        docks[name] = dock
    window.tabifyDockWidget(docks["weights"], docks["landscape"])
    docks["weights"].raise_()
    window.show()
    qtbot.waitExposed(window)
    front, behind = docks["weights"].widget(), docks["landscape"].widget()
    qtbot.waitUntil(lambda: front.has_canvas, timeout=5_000)
    qtbot.wait(50)
    assert not behind.has_canvas and behind.views[0].parent is None
    docks["landscape"].raise_()
    qtbot.waitUntil(lambda: behind.has_canvas, timeout=5_000)
    for dock in docks.values():
        dock.widget().canvas.close()


def test_a_deferred_canvas_is_made_only_once_allowed(panels, qtbot, qapp):
    snapshot = metrics_snapshot()
    panel = panels("metrics")
    panel.defer_canvas()
    panel.push(snapshot)
    panel.show()
    qtbot.waitExposed(panel)
    panel.repaint()  # painted on screen now
    qapp.processEvents()
    assert not panel.has_canvas  # on screen, but held back
    panel.allow_canvas()
    qtbot.waitUntil(lambda: panel.has_canvas, timeout=5_000)
    assert panel.views[0]._last is not None  # the snapshot pushed meanwhile was drawn on creation
