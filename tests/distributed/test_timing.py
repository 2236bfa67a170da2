"""The timing hook replaces DDP's gradient averaging on every step, so it must train exactly as
DDP does without it; DDP's reducer, asked to time every step, reports each step's wait once;
and the leader's per-rank rows reach the run's history in batches, every
window's row by the end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gpuviz_app.core.distributed import job as job_module
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


class Recorder:
    """Stands for the attached run: keeps what is appended, as the history would."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[int, float]]] = {}

    def append_rows(self, name: str, steps: np.ndarray, values: np.ndarray) -> None:
        self.rows.setdefault(name, []).extend(zip(steps.tolist(), values.tolist()))


class Host:
    def __init__(self) -> None:
        self.probe_host = self
        self.parts: dict[str, object] = {}

    def put(self, name: str, payload: object) -> None:
        self.parts[name] = payload


def window(step: int, loss: list[float]) -> DistributedPayload:
    n = len(loss)
    return DistributedPayload(step=step, world_size=n, every=5, loss=np.array(loss), steps_per_s=np.full(n, 50.0),
                              wait_s=np.full(n, 0.002), compute_s=np.full(n, 0.018), straggler=-1,
                              wait_source="ddp allreduce")


def test_the_leader_appends_rank_rows_in_batches_and_every_window_by_the_end(monkeypatch):
    monkeypatch.setattr(job_module, "ROWS_EVERY_S", float("inf"))
    attached, host = Recorder(), Host()
    sink = job_module.leader_sink(attached, host)
    for step, loss in ((5, [1.0, 2.0]), (10, [0.5, float("nan")]), (15, [0.25, 1.5])):
        sink(window(step, loss))
        assert host.parts["distributed"].step == step  # the part is the newest window at once
    assert attached.rows == {}  # rows wait for the next batch
    sink.flush()
    assert attached.rows["rank0/loss"] == [(5, 1.0), (10, 0.5), (15, 0.25)]
    assert attached.rows["rank1/loss"] == [(5, 2.0), (15, 1.5)]  # a rank that sent no loss has no point
    assert attached.rows["rank1/wait_ms"] == [(5, 2.0), (10, 2.0), (15, 2.0)]
    assert attached.rows["rank0/steps_per_s"] == [(5, 50.0), (10, 50.0), (15, 50.0)]
    sink.flush()
    assert len(attached.rows["rank0/loss"]) == 3  # nothing appended twice
    monkeypatch.setattr(job_module, "ROWS_EVERY_S", 0.0)
    sink(window(20, [0.125, 0.75]))
    assert attached.rows["rank0/loss"][-1] == (20, 0.125)  # its batch is due: appended at once
