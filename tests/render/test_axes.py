import math

import numpy as np
import pytest

from gpuviz_app.render.axes import decade_ticks, format_tick, linear_ticks, ticks
from gpuviz_app.render.plot import RANGE_STEPS, nice_ceil, steady_range


def test_linear_ticks_are_round_and_inside():
    t = linear_ticks(0.13, 2.71, 6)
    assert t == [0.5, 1.0, 1.5, 2.0, 2.5]
    assert linear_ticks(0, 1_000_000, 5) == [0, 200_000, 400_000, 600_000, 800_000, 1_000_000]


def test_decade_ticks_cover_log_ranges():
    assert decade_ticks(-2.5, 0.4) == [-2.0, -1.0, 0.0]
    within = decade_ticks(-1.0, -0.5)
    assert within[0] == -1.0 and all(-1.0 <= v <= -0.5 for v in within) and len(within) >= 2
    assert [label for _, label in ticks(-2, 0, 8, log=True)] == ["0.01", "0.1", "1"]


@pytest.mark.parametrize("value,label", [(0, "0"), (0.25, "0.25"), (150, "150"), (20000, "20k"),
                                         (1_500_000, "1.5M"), (0.0001, "0.0001")])
def test_tick_labels_are_short(value, label):
    assert format_tick(value) == label


def test_nice_ceil_rounds_up_to_round_numbers():
    assert nice_ceil(7) == 8 and nice_ceil(201) == 250 and nice_ceil(1000) == 1000
    for v in (3.3, 47, 999, 12345):
        assert v <= nice_ceil(v) <= 1.26 * v or math.isclose(nice_ceil(v), v)


def test_a_steady_range_holds_the_data_moves_in_jumps_and_depends_on_the_data_alone():
    r = steady_range(0.0, 1.0)
    assert r[0] < 0 < 1 < r[1]
    assert steady_range(0.01, 0.98) == steady_range(0.02, 0.99)  # a little change: no change
    assert steady_range(0.0, 2.0) != r  # outgrew it
    assert steady_range(0.45, 0.5) != r  # shrank to a sliver: zoom in
    rng = np.random.default_rng(0)
    pads = rng.choice([0.02, 0.04, 0.08], 500)
    for lo, span, pad in zip(rng.normal(0, 100, 500), 10.0 ** rng.uniform(-6, 6, 500), pads):
        a, b = steady_range(lo, lo + span, pad)
        assert a <= lo and lo + span <= b  # the data is inside
        assert span / (b - a) >= 1 / (RANGE_STEPS * (1 + 2 * pad)) - 1e-9  # and fills most of it
    assert steady_range(3.0, 3.0)[0] < 3.0 < steady_range(3.0, 3.0)[1]  # one value: a small range around it


def test_a_narrow_axis_still_gets_two_ticks():
    assert len(linear_ticks(-0.06, 0.07, 2)) >= 2  # a ridgeline's value axis at dock size
    assert len(linear_ticks(0.13, 0.19, 2)) >= 2


def test_log_axes_get_several_ticks_within_a_few_decades():
    assert len(decade_ticks(-1.71, 0.43, 5)) >= 3  # 0.03 .. 3, not just 0.1 and 1
    assert len(decade_ticks(-3.5, -2.3, 6)) >= 3
