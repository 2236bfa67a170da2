"""Which stored steps `gpuviz record --from-run` draws: a range A:B (both ends included), and with
--every K the first stored step of each K steps and the range's last."""

from __future__ import annotations

import numpy as np
import pytest

from gpuviz_app.export.record_options import parse_step_range
from gpuviz_app.export.stored_record import chosen_steps

STORED = np.array([0, 1, 2, 3, 5, 8, 13, 21, 34], np.int64)


@pytest.mark.parametrize("text, ends", [
    (None, (None, None)), ("3:8", (3, 8)), ("3:", (3, None)), (":8", (None, 8)), (":", (None, None)),
    ("5:5", (5, 5)), (" 2 : 9 ", (2, 9)),
])
def test_a_step_range_reads_as_its_two_ends(text, ends):
    assert parse_step_range(text) == ends


@pytest.mark.parametrize("text", ["5", "a:b", "1:2:3", "1.5:4", ""])
def test_a_step_range_that_is_not_one_is_refused_naming_the_setting(text):
    with pytest.raises(ValueError, match=r"^--steps expects a range of steps A:B"):
        parse_step_range(text)


def test_the_range_includes_both_ends():
    assert chosen_steps(STORED, (3, 13)) == [3, 5, 8, 13]
    assert chosen_steps(STORED, (4, 12)) == [5, 8]
    assert chosen_steps(STORED, (None, 2)) == [0, 1, 2]
    assert chosen_steps(STORED, (30, None)) == [34]
    assert chosen_steps(STORED) == STORED.tolist()
    assert chosen_steps(STORED, (35, None)) == []


def test_every_k_keeps_the_first_stored_step_of_each_k_and_the_last():
    assert chosen_steps(STORED, every=10) == [0, 13, 21, 34]
    assert chosen_steps(STORED, (1, 20), every=4) == [1, 5, 8, 13]
    assert chosen_steps(STORED, every=1) == STORED.tolist()
    assert chosen_steps(np.arange(0, 100, dtype=np.int64), every=25) == [0, 25, 50, 75, 99]
