"""Single-threaded CPU workers: whole blocks of work per thread, meeting once at the end.

Run with torch's intra-op threads, every small operation is a parallel region that ends
in a barrier. On a busy machine (training, rendering and other programs sharing the
cores) one descheduled thread stalls every barrier, and a short pass can take a hundred
times as long. And every thread that runs parallel regions gets an OpenMP team of its
own; with more team threads than cores, libgomp stops spinning at barriers, which halves
the training's speed. Work split into blocks, one per single-threaded worker, has neither
problem.
"""

from __future__ import annotations

import ctypes
import functools
import os
import queue
import threading
import time
from typing import Any, Callable, TypeVar

import torch

from gpuviz_app.core.exit_join import close_at_exit

T = TypeVar("T")


@functools.lru_cache(maxsize=1)
def _openmp() -> Any:
    """The OpenMP runtime torch runs its parallel regions on, or None if it cannot be found."""
    folder = os.path.join(os.path.dirname(torch.__file__), "lib")
    for name in ("libgomp.so.1", "libiomp5.so", "libomp.so"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            try:
                return ctypes.CDLL(path)  # already loaded by torch: the same runtime
            except OSError:
                return None
    return None


def set_threads_here(count: int) -> None:
    """Give the calling thread `count` torch threads, and only the calling thread.

    `torch.set_num_threads` also sets the count that threads started later begin with:
    a training thread started after a single-threaded worker would train on one thread.
    OpenMP's own setter changes only the caller (torch's per-thread set-up runs first,
    since it would overwrite it). Without a known OpenMP runtime, torch's setter is used.
    """
    torch.get_num_threads()
    omp = _openmp()
    if omp is None:
        torch.set_num_threads(count)
    else:
        omp.omp_set_num_threads(int(count))


class CpuWorkers:
    """`count` daemon threads, each running whole tasks with one torch thread."""

    def __init__(self, count: int, name: str) -> None:
        self.count = count
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True) for i in range(count)]
        for thread in self._threads:
            thread.start()
        self._closed = False
        close_at_exit(self, pool=True)

    def _serve(self) -> None:
        set_threads_here(1)
        while True:
            job = self.jobs.get()
            if job is None:
                return
            task, done = job
            try:
                done.put(task())
            except Exception as exc:  # noqa: BLE001 - handed back to the caller
                done.put(exc)

    def run(self, tasks: list[Callable[[], T]]) -> list[T]:
        """Every task's result, in order; the first task's exception is raised after all ended."""
        waits = []
        for task in tasks:
            done: queue.SimpleQueue = queue.SimpleQueue()
            self.jobs.put((task, done))
            waits.append(done)
        results = [w.get() for w in waits]
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results

    def close(self, timeout: float = 0.0) -> None:
        """Let each worker end after its task; wait up to `timeout` for them to end."""
        if not self._closed:
            self._closed = True
            for _ in range(self.count):
                self.jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))


_pools: dict[str, CpuWorkers] = {}
_pools_lock = threading.Lock()


def shared_workers(name: str, count: int) -> CpuWorkers:
    """The process's pool called `name`, with `count` workers (a pool of another size is replaced)."""
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None or pool.count != count:
            if pool is not None:
                pool.close()
            pool = _pools[name] = CpuWorkers(count, name)
        return pool


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous, nearly equal (start, end) ranges covering range(n)."""
    edges = [n * i // parts for i in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:]))
