"""What the window remembers between launches: geometry, dock layout, view options."""

from __future__ import annotations

import pytest
from PySide6 import QtCore

from gpuviz_app.render.views import VIEW_CLASSES
from gpuviz_app.render.views.base import Option, View

Area = QtCore.Qt.DockWidgetArea


class PlainView(View):
    """A view with no probe and one choice option: enough to get a dock panel of its own."""

    name = "plain"
    title = "Plain"
    render_size = (200, 150)
    OPTIONS = (Option("palette", "dark", choices=("dark", "light")),)

    def update(self, snapshot, upload) -> bool:
        return False


class OtherView(PlainView):
    name = "other"
    title = "Other"


@pytest.fixture
def two_docks(monkeypatch):
    monkeypatch.setitem(VIEW_CLASSES, "plain", PlainView)
    monkeypatch.setitem(VIEW_CLASSES, "other", OtherView)


def test_settings_round_trip_across_two_window_instances(two_docks, main_window, qtbot):
    first = main_window("--device", "cpu")
    screen = first.screen().availableGeometry()  # Qt fits restored geometry to the screen
    size = (screen.width() - 97, screen.height() - 83)
    first.resize(*size)
    first.move(screen.x() + 40, screen.y() + 30)
    first.addDockWidget(Area.LeftDockWidgetArea, first.docks["plain"])
    first.docks["other"].hide()
    axis = first.panels["metrics"].option_widgets["metrics.loss_axis"]
    axis.setCurrentIndex(axis.findData("log"))
    combo = first.panels["plain"].option_widgets["plain.palette"]
    combo.setCurrentIndex(combo.findData("light"))
    qtbot.wait(50)
    assert first.dockWidgetArea(first.docks["plain"]) == Area.LeftDockWidgetArea  # the change took
    first.close()

    second = main_window("--device", "cpu")
    assert (second.width(), second.height()) == size
    assert (second.x(), second.y()) == (screen.x() + 40, screen.y() + 30)
    assert second.dockWidgetArea(second.docks["plain"]) == Area.LeftDockWidgetArea
    assert second.docks["plain"].isVisible()
    assert not second.docks["other"].isVisible()
    assert not second.docks["other"].toggleViewAction().isChecked()
    assert second.panels["metrics"].views[0].options()["loss_axis"] == "log"
    assert second.panels["metrics"].option_widgets["metrics.loss_axis"].currentData() == "log"
    assert second.panels["plain"].views[0].options()["palette"] == "light"
    assert second.panels["plain"].option_widgets["plain.palette"].currentData() == "light"


def test_a_fresh_profile_starts_with_the_default_layout(two_docks, main_window):
    window = main_window("--device", "cpu")
    assert window.dockWidgetArea(window.docks["plain"]) == Area.RightDockWidgetArea
    assert window.panels["plain"].views[0].options()["palette"] == "dark"
    assert window.panels["metrics"].views[0].options()["loss_axis"] == "auto"


def test_a_scripted_run_leaves_the_saved_layout_alone(two_docks, main_window, qtbot):
    first = main_window("--device", "cpu")
    screen = first.screen().availableGeometry()
    size = (screen.width() - 101, screen.height() - 77)
    first.resize(*size)
    first.close()
    scripted = main_window("--device", "cpu", "--steps", "0", "--quit-when-done")
    scripted.resize(size[0] - 50, size[1] - 50)
    scripted.close()
    third = main_window("--device", "cpu")
    assert (third.width(), third.height()) == size


def test_corrupt_saved_state_falls_back_to_defaults(two_docks, main_window):
    from gpuviz_app.ui import settings as store

    store.settings().setValue("window/geometry", "not bytes")
    store.save_bytes("window/state", QtCore.QByteArray(b"\x00garbage"))
    store.settings().setValue("views/plain", "{not json")
    store.save_json("views/metrics", {"loss_axis": "sideways"})  # not one of its choices
    store.settings().sync()
    window = main_window("--device", "cpu")
    assert window.dockWidgetArea(window.docks["plain"]) == Area.RightDockWidgetArea
    assert window.docks["plain"].isVisible()
    assert window.panels["plain"].views[0].options()["palette"] == "dark"
    assert window.panels["metrics"].views[0].options()["loss_axis"] == "auto"
