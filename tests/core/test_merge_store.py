"""The merge-neighbours store under the metrics history and the weight histogram columns."""

import numpy as np
import pytest

from gpuviz_app.core.merge_store import MergeStore, runs


class Sums:
    """An owner keeping one sum per entry, as the history and the columns keep their values."""

    def __init__(self, capacity: int) -> None:
        self.values = np.zeros(capacity)
        self.store = MergeStore(capacity, self.merge_pairs)

    def merge_pairs(self, a: slice, b: slice, h: int) -> None:
        merged = self.values[a] + self.values[b]
        self.values[:] = 0
        self.values[:h] = merged

    def add(self, start: int, values: np.ndarray) -> None:
        entries = self.store.place(start, len(values))
        np.add.at(self.values, entries, values)


def test_entries_merge_in_pairs_and_keep_every_item():
    s = Sums(capacity=4)
    s.add(0, np.arange(1.0, 11.0))  # positions 0-9: four entries of stride 4 at most
    st = s.store
    assert st.stride == 4 and st.n == 3
    assert st.held[:3].tolist() == [4, 4, 2] and st.total == 10
    assert s.values[:3].tolist() == [1 + 2 + 3 + 4, 5 + 6 + 7 + 8, 9 + 10]
    assert st.spans().tolist() == [[0, 3], [4, 7], [8, 9]]


def test_a_gap_leaves_empty_entries_and_an_odd_last_entry_pairs_with_an_empty_one():
    s = Sums(capacity=4)
    s.add(0, np.ones(3))  # entries 0, 1, 2 (stride 1)
    s.add(7, np.ones(2))  # positions 7-8: a gap of 3-6, then a merge to stride 4... twice
    st = s.store
    assert st.stride == 4 and st.n == 3
    assert st.held[:3].tolist() == [3, 1, 1] and st.total == 5
    assert s.values[:3].tolist() == [3, 1, 1] and s.values[3:].sum() == 0
    s2 = Sums(capacity=4)
    s2.add(0, np.ones(3))
    s2.store.merge()  # n = 3: entries (0, 1) and (2, the empty 3)
    assert s2.store.held.tolist() == [2, 1, 0, 0] and s2.values.tolist() == [2, 1, 0, 0]


def test_positions_must_come_in_order():
    s = Sums(capacity=4)
    s.add(0, np.ones(2))
    with pytest.raises(ValueError, match="in order"):
        s.add(1, np.ones(1))


def test_runs_of_equal_entries():
    starts, entries = runs(np.array([0, 0, 1, 3, 3, 3]))
    assert starts.tolist() == [0, 2, 3] and entries.tolist() == [0, 1, 3]
