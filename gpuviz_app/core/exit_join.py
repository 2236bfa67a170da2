"""Background threads that run torch work are closed and joined before the interpreter finalizes.

A daemon thread still inside a torch operation when finalization starts is cut off as it takes
the GIL back, and the C++ frames it unwinds through abort the whole process ("terminate called
without an active exception"), after the user's script had ended well. The owners of such
threads register here; at exit each is closed, all within one bounded wait.
"""

from __future__ import annotations

import atexit
import time
import weakref
from typing import Protocol

EXIT_WAIT_S = 10.0  # the longest the exit waits for all background threads together


class Closable(Protocol):
    def close(self, timeout: float) -> None: ...


_owners: "weakref.WeakSet[Closable]" = weakref.WeakSet()
_pools: "weakref.WeakSet[Closable]" = weakref.WeakSet()


def close_at_exit(owner: Closable, pool: bool = False) -> None:
    """Close `owner` (stop its thread and wait up to the time given) before the interpreter
    finalizes. A `pool` serves the other owners' threads, so it is closed after them."""
    (_pools if pool else _owners).add(owner)


@atexit.register
def close_all(wait_s: float = EXIT_WAIT_S) -> None:
    """Close every registered owner still alive, sharing one deadline. Runs before finalization
    (and after the handlers registered later, such as an attached run's closing)."""
    deadline = time.monotonic() + wait_s
    for owners in (list(_owners), list(_pools)):
        for owner in owners:
            owner.close(0.0)  # every thread told first, so that they all wind down at once
        for owner in owners:
            owner.close(max(0.0, deadline - time.monotonic()))
