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


def spend_the_bucket(p, c):
    """Draw a 300 ms frame: the bucket is as deep in debt as it goes (max_debt_s, 100 ms)."""
    assert p.ready()
    c.cpu += 0.3
    assert not p.ready()


def test_a_frame_is_refused_once_the_bucket_is_spent_and_allowed_when_refilled():
    p, c = pacer(budget=0.1)
    assert p.ready() and p.ready()  # no CPU spent: the burst stays
    c.cpu += 0.049
    assert p.ready()
    c.cpu += 0.002  # 51 ms of a 50 ms burst
    assert not p.ready()
    c.wall += 0.011  # 1.1 ms earned at 0.1 cores
    assert p.ready()


def test_the_budget_follows_set_base_and_set_extra():
    p, c = pacer(budget=0.1)
    spend_the_bucket(p, c)
    assert p.wait_s() == pytest.approx(1.0)  # 100 ms of debt at 0.1 cores
    p.set_base(0.5)
    assert p.wait_s() == pytest.approx(0.2)
    c.wall += 0.19
    assert not p.ready()
    c.wall += 0.02
    assert p.ready()

    spend_the_bucket(p, c)
    p.set_extra(0.5)  # a recording: 1.0 core in all
    assert p.wait_s() == pytest.approx(0.1)
    c.wall += 0.09
    assert not p.ready()
    c.wall += 0.02
    assert p.ready()
    spend_the_bucket(p, c)
    p.set_extra(0.0)  # the recording ended: back to the base alone
    assert p.wait_s() == pytest.approx(0.2)
    assert (p.base, p.extra, p.budget) == (0.5, 0.0, 0.5)


def test_time_before_a_budget_change_is_earned_at_the_old_rate():
    p, c = pacer(budget=0.1)
    spend_the_bucket(p, c)  # 100 ms of debt
    c.wall += 0.3  # 30 ms earned at 0.1 cores
    p.set_base(1.0)  # from now on, 1 ms per ms
    assert p.wait_s() == pytest.approx(0.07)


def test_charged_cpu_delays_the_next_frame():
    p, c = pacer(budget=0.1)
    assert p.ready()
    p.charge(0.06)  # an encoder's CPU, paid from the display budget
    assert p.wait_s() == pytest.approx(0.1)  # 10 ms of debt at 0.1 cores
    assert not p.ready()
    c.wall += 0.09
    assert not p.ready()
    c.wall += 0.02
    assert p.ready()
    uncharged, _ = pacer(budget=0.1)
    assert uncharged.ready() and uncharged.ready()  # without the charge a frame may be drawn
