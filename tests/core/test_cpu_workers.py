"""Single-threaded workers: results in order, errors raised, and no effect on other threads."""

import threading

import pytest
import torch

from gpuviz_app.core.cpu_workers import CpuWorkers, set_threads_here, shared_workers, split


def test_tasks_run_single_threaded_and_results_come_back_in_order():
    workers = CpuWorkers(2, "test-workers")
    try:
        results = workers.run([lambda i=i: (i, torch.get_num_threads()) for i in range(5)])
    finally:
        workers.close()
    assert [r[0] for r in results] == list(range(5))
    assert {r[1] for r in results} == {1}


def test_an_error_in_a_task_is_raised_after_all_tasks_ended():
    workers = CpuWorkers(2, "test-workers")
    done = []

    def fails():
        raise ValueError("bad block")

    try:
        with pytest.raises(ValueError, match="bad block"):
            workers.run([fails, lambda: done.append(1)])
    finally:
        workers.close()
    assert done == [1]


@pytest.fixture
def two_threads_by_default():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # this thread's count and the one later threads start with
    yield 2
    torch.set_num_threads(before)


def test_threads_started_after_a_pool_keep_the_default_thread_count(two_threads_by_default):
    default = two_threads_by_default
    pool = CpuWorkers(2, "test-default")  # started after the default was set
    try:
        assert pool.run([torch.get_num_threads] * 2) == [1, 1]
    finally:
        pool.close()
    seen = []

    def narrowed_then_new():
        set_threads_here(1)
        seen.append(torch.get_num_threads())

    t = threading.Thread(target=narrowed_then_new)
    t.start()
    t.join()
    later = []
    t = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert seen == [1]
    assert later == [default] and torch.get_num_threads() == default


def test_split_covers_the_range_in_nearly_equal_parts():
    parts = split(10, 3)
    assert parts == [(0, 3), (3, 6), (6, 10)]
    assert split(2, 3) == [(0, 0), (0, 1), (1, 2)]


def test_a_shared_pool_is_reused_and_replaced_when_its_size_changes():
    first = shared_workers("test-shared", 2)
    assert shared_workers("test-shared", 2) is first
    bigger = shared_workers("test-shared", 3)
    assert bigger is not first and bigger.count == 3
    assert bigger.run([lambda i=i: i * i for i in range(4)]) == [0, 1, 4, 9]
