"""Latest-value hand-off between the trainer thread and the display thread."""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Holds only the newest item: the producer never waits and nothing queues up.

    The consumer sees each item at most once (`take`) and may skip items that were
    replaced before it looked, which is exactly what a display wants.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None
        self._serial = 0
        self._taken = 0
        self.observer: Callable[[T], None] | None = None  # told every item put (it must not block)

    def put(self, item: T) -> None:
        with self._lock:
            self._item = item
            self._serial += 1
        observer = self.observer
        if observer is not None:
            observer(item)

    def take(self) -> T | None:
        """The newest item if it was not taken yet, else None."""
        with self._lock:
            if self._serial == self._taken:
                return None
            self._taken = self._serial
            return self._item

    def peek(self) -> T | None:
        """The newest item, taken or not."""
        with self._lock:
            return self._item

    @property
    def serial(self) -> int:
        """How many items were ever put (lets a consumer tell how many it skipped)."""
        return self._serial
