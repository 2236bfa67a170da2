import os

import pytest

from gpuviz_app.ui.pacing import FramePacer, default_budget


class Clocks:
    def __init__(self):
        self.wall = 0.0
        self.cpu = 0.0


def pacer(budget=0.1):
    c = Clocks()
    return FramePacer(budget=budget, clock=lambda: c.wall, cpu_clock=lambda: c.cpu), c


def test_a_frame_that_spends_more_than_the_budget_waits_until_it_is_paid_back():
    p, c = pacer(budget=0.1)
    assert p.ready()
    c.cpu += 0.1  # a 100 ms frame, drawn over 100 ms
    c.wall += 0.1
    assert not p.ready()  # 50 ms burst + 10 ms earned - 100 ms spent
    assert p.wait_s() == pytest.approx(0.4)
    c.wall += 0.39
    assert not p.ready()
    c.wall += 0.02
    assert p.ready()


def test_the_default_budget_is_two_percent_of_the_machine_unless_set(monkeypatch):
    monkeypatch.delenv("GPUVIZ_DISPLAY_BUDGET", raising=False)
    assert default_budget() == pytest.approx(min(1.0, 0.02 * (os.cpu_count() or 1)))
    monkeypatch.setenv("GPUVIZ_DISPLAY_BUDGET", "0.5")
    assert default_budget() == 0.5


def test_a_new_base_budget_keeps_extra_budget_added_on_top():
    p, _ = pacer(budget=0.04)
    p.extra = 0.03  # a recording's extra
    p.base = 0.5
    assert p.budget == pytest.approx(0.53) and p.base == 0.5
    p.extra = 0.0
    assert p.budget == pytest.approx(0.5)
