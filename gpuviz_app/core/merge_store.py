"""Fixed memory for an ever-growing sequence: entries that merge with their neighbours when full.

An entry covers `stride` consecutive positions (a position is an item's place in the
sequence: its ordinal for the metrics history, its step for the weight histograms).
Positions arrive in order, possibly with gaps. When a position falls beyond the last
entry, neighbouring entries merge pairwise (0+1, 2+3, ...) and the stride doubles, so
after a million items every one is still represented, in an entry spanning 2**k
positions. The store keeps the bookkeeping (stride, entries in use, items each holds);
its owner keeps the values and merges them when told to.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

# merge_pairs(first, second, half): write first[i] merged with second[i] into entry i for
# i < half, and clear entries half and above (the store has already chosen the pairs).
MergePairs = Callable[[slice, slice, int], None]


class MergeStore:
    def __init__(self, capacity: int, merge_pairs: MergePairs) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self.capacity = capacity
        self._merge_pairs = merge_pairs
        self.stride = 1
        self.n = 0  # entries in use: the last non-empty one and every one before it
        self.end = 0  # positions spanned so far (gaps included): the next position may not be earlier
        self.held = np.zeros(capacity, np.int64)  # items each entry holds (0 for an entry inside a gap)

    def __len__(self) -> int:
        return self.n

    @property
    def total(self) -> int:
        """Items held in all entries."""
        return int(self.held[: self.n].sum())

    def place(self, start: int, count: int) -> np.ndarray:
        """Entries of positions start .. start + count - 1 (merging first as needed); counts them held.

        `start` may not be earlier than `end` (positions between are a gap).
        """
        if start < self.end:
            raise ValueError(f"positions must come in order: expected {self.end} or later, got {start}")
        if count < 1:
            return np.zeros(0, np.int64)
        last = start + count - 1
        while last // self.stride >= self.capacity:
            self.merge()
        entries = (start + np.arange(count, dtype=np.int64)) // self.stride
        first_entry = int(entries[0])
        self.held[first_entry : int(entries[-1]) + 1] += np.bincount(entries - first_entry)
        self.end = last + 1
        self.n = max(self.n, int(entries[-1]) + 1)
        return entries

    def merge(self) -> None:
        """Halve the entries in use: each even/odd pair becomes one (an odd last one pairs with
        the empty entry after it)."""
        half = (self.n + 1) // 2
        first, second = slice(0, 2 * half, 2), slice(1, 2 * half, 2)
        self._merge_pairs(first, second, half)
        held = self.held[first] + self.held[second]
        self.held[:] = 0
        self.held[:half] = held
        self.n = half
        self.stride *= 2

    def spans(self) -> np.ndarray:
        """(n, 2) first and last position each entry in use covers (the last one up to `end`)."""
        start = np.arange(self.n, dtype=np.int64) * self.stride
        return np.stack([start, np.minimum(start + self.stride, self.end) - 1], axis=1)


def runs(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal (sorted) entries starts, and the entry of each run."""
    starts = np.flatnonzero(np.r_[True, entries[1:] != entries[:-1]])
    return starts, entries[starts]
