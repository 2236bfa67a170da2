"""The timing hook replaces DDP's gradient averaging on every step, so it must train exactly as
DDP does without it; DDP's reducer, asked to time every step, reports each step's wait once,
and asked to time one step a window, times no other (past DDP's first ten) and gives each window
a wait;
and the leader's per-rank rows reach the run's history in batches when the run is flushed,
every window's row by the end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gpuviz_app.core.distributed import leader
from gpuviz_app.core.distributed.payload import DistributedPayload
from tests.distributed.test_job import HERE, run_job


@pytest.fixture(scope="module")
def timed_job(tmp_path_factory) -> dict:
    """One job trains the three replicas (see hook_train.py); both tests read its result."""
    folder = tmp_path_factory.mktemp("timed")
    code, output = run_job(HERE / "hook_train.py", str(folder), address="none")
    assert code == 0, output[-3000:]
    return json.loads((folder / "result.json").read_text())


def test_the_timing_hook_averages_gradients_exactly_as_ddp_does(timed_job):
    result = timed_job
    assert result["registered"]
    for name, builtin in result["builtin"].items():
        np.testing.assert_array_equal(np.array(result["hooked"][name]), np.array(builtin), err_msg=name)
    waits = result["waits"]
    assert all(w > 0 for w in waits[:-1]) and waits[-1] == 0.0


def test_ddp_s_reducer_times_every_step_once_one_step_late(timed_job):
    result = timed_job
    assert result["stats_registered"]
    for name, builtin in result["builtin"].items():
        np.testing.assert_array_equal(np.array(result["stats"][name]), np.array(builtin), err_msg=name)
    waits = result["stats_waits"]  # after each of the steps, once more without a step, after a forward
    assert waits[0] == 0.0  # the first step's times are kept until the next forward
    assert all(w > 0 for w in waits[1:-2])
    assert waits[-2] == 0.0  # no forward since: nothing new, and nothing counted twice
    assert waits[-1] > 0  # the last step's, once the next forward began


def test_ddp_s_reducer_sampled_once_a_window_times_only_those_steps(timed_job):
    result = timed_job
    assert result["sampled_registered"]
    every = result["sample_every"]
    late = sorted({t for t in result["timed"] if t > 10})  # DDP times its first ten iterations whatever the rate
    assert len(late) >= 3 and all(t % every == 0 for t in late), late
    assert all(w > 0 for w in result["windows"])


def attached_run():
    """A real attached run (its flush reads the leader's kept windows), of a model of no interest."""
    import torch

    from gpuviz_app.core.attached_run import AttachedRun, build_context

    context = build_context(torch.nn.Linear(2, 1), torch.zeros(4, 2), None, "job", step_source=lambda: 0)
    return AttachedRun(context)


def rows(attached, name: str) -> list[tuple[int, float]]:
    table = attached.history.rows(name)  # one bucket a row while the history is short
    return [(int(row["first_step"]), float(row["mean"])) for row in table]


class Host:
    def __init__(self) -> None:
        self.probe_host = self
        self.parts: dict[str, object] = {}

    def put(self, name: str, payload: object) -> None:
        self.parts[name] = payload


def window(step: int, loss: list[float], waits_ms: list[float]) -> np.ndarray:
    """A gathered window of 5 steps taking 0.1 s on each rank; a NaN loss: the rank sent none."""
    table = np.zeros((len(loss), leader.FIGURES))
    for rank, (value, wait) in enumerate(zip(loss, waits_ms)):
        sent = value == value
        table[rank] = (5 * value if sent else 0.0, 5.0 if sent else 0.0, 0.1, 5 * wait / 1000, 5, step)
    return table


def test_the_leader_reads_its_windows_when_the_run_is_flushed_and_every_window_by_the_end():
    attached, host = attached_run(), Host()
    sink = leader.LeaderSink(attached, host, leader.JobLayout(2, 5, (), "ddp allreduce"))
    for step, loss, waits in (((5, [1.0, 2.0], [2.0, 2.0])), (10, [0.5, float("nan")], [2.0, 2.0]),
                              (15, [0.25, 1.5], [1.0, 15.0])):
        sink(window(step, loss, waits))
    assert attached.history.total("rank0/loss") == 0 and host.parts == {}  # kept for the next batch
    attached.flush()  # as its host does before it publishes
    assert rows(attached, "rank0/loss") == [(5, 1.0), (10, 0.5), (15, 0.25)]
    assert rows(attached, "rank1/loss") == [(5, 2.0), (15, 1.5)]  # a rank that sent no loss has no point
    np.testing.assert_allclose(rows(attached, "rank1/wait_ms"), [(5, 2.0), (10, 2.0), (15, 15.0)])
    np.testing.assert_allclose(rows(attached, "rank0/steps_per_s"), [(5, 50.0), (10, 50.0), (15, 50.0)])
    payload = host.parts["distributed"]  # the newest window
    assert isinstance(payload, DistributedPayload) and payload.step == 15
    np.testing.assert_allclose(payload.loss, [0.25, 1.5])
    np.testing.assert_allclose(payload.wait_s, [0.001, 0.015])
    np.testing.assert_allclose(payload.compute_s, [0.019, 0.005])
    assert payload.straggler == 0  # rank 1 waits for rank 0
    attached.flush()
    sink.flush()
    assert attached.history.total("rank0/loss") == 3  # nothing appended twice


def test_the_leader_reads_its_windows_once_it_keeps_too_many_whatever_the_host(monkeypatch):
    monkeypatch.setattr(leader, "MAX_KEPT", 4)
    attached, host = attached_run(), Host()
    sink = leader.LeaderSink(attached, host, leader.JobLayout(2, 5, (), "ddp allreduce"))
    for k in range(1, 4):
        sink(window(5 * k, [1.0 / k, 2.0], [2.0, 2.0]))
    assert attached.history.total("rank0/loss") == 0
    sink(window(20, [0.125, 0.75], [2.0, 2.0]))
    assert rows(attached, "rank0/loss")[-1] == (20, 0.125)  # the fourth window kept: read at once
    assert attached.history.total("rank0/loss") == 4 and host.parts["distributed"].step == 20


class LoggingData:
    """Stands for DDP's logging data: the newest timed iteration and its all-reduce time (ns)."""

    def __init__(self) -> None:
        self.ints_map = {"iteration": 0, "backward_comm_time": 0}
        self.reads = 0


class Logger:
    def __init__(self, data: LoggingData) -> None:
        self.data = data

    def _get_ddp_logging_data(self) -> LoggingData:
        self.data.reads += 1
        return self.data


def test_ddp_s_timing_is_read_at_most_once_in_its_interval_and_windows_between_reuse_the_figure():
    from gpuviz_app.core.distributed.timing import DdpStatsWaitTimer

    now = [0.0]
    timer = DdpStatsWaitTimer(sample_every=5, read_every_s=0.2, clock=lambda: now[0])
    data = LoggingData()
    timer._logger = Logger(data)  # what `register` keeps of a DDP model
    data.ints_map.update(iteration=5, backward_comm_time=2_000_000)  # 2 ms a step
    assert timer.take_window(5) == pytest.approx(0.010) and data.reads == 1
    data.ints_map.update(iteration=10, backward_comm_time=4_000_000)
    now[0] = 0.1
    assert timer.take_window(5) == pytest.approx(0.010) and data.reads == 1  # within the interval: the last figure
    now[0] = 0.25
    assert timer.take_window(5) == pytest.approx(0.020) and data.reads == 2 and timer.timed_iteration == 10
    now[0] = 0.5
    assert timer.take_window(10) == pytest.approx(0.040) and data.reads == 3  # nothing newer timed: the last figure
