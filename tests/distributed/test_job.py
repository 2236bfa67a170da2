"""Two-rank torchrun jobs (gloo, CPU) attached with dist="auto" to a listener in this process:
one run with every rank's figures, the slowed rank named, DTensor shards merged exactly, and
no job left hanging by a missing or closed window, a failing rank or a mistaken option."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from gpuviz_app.core.distributed.stats import local_stats
from gpuviz_app.core.probes.weights import histogram
from gpuviz_app.sources.remote import Listener

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
EXAMPLE = REPO / "examples" / "ddp_train.py"
JOB_TIMEOUT_S = 240.0  # generous on a busy machine: a job that hangs is stopped here and fails
WAIT_S = 120.0


def start_job(script: Path, *args: str, address: str) -> subprocess.Popen:
    env = {**os.environ, "GPUVIZ_ADDRESS": address, "GPUVIZ_LAUNCH": "0", "PYTHONPATH": str(REPO),
           "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), *args]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def descendants(pid: int) -> list[int]:
    """The processes started under `pid`, at any depth (torchrun starts each rank in its own session)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill(job: subprocess.Popen) -> None:
    for pid in [*descendants(job.pid), job.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def finish(job: subprocess.Popen) -> tuple[int, str]:
    """The job's status and output; a job still running after `JOB_TIMEOUT_S` is killed (with its
    ranks) and the test fails: it hung."""
    try:
        out, err = job.communicate(timeout=JOB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill(job)
        out, err = job.communicate()
        pytest.fail(f"the job hung for {JOB_TIMEOUT_S:.0f} s:\n{err[-3000:]}")
    return job.returncode, out + err


def run_job(script: Path, *args: str, address: str) -> tuple[int, str]:
    return finish(start_job(script, *args, address=address))


def final_snapshot(listener: Listener):
    assert listener.wait_for(lambda lis: any(run.finished for run in lis.runs()), WAIT_S)
    (run,) = listener.runs()  # the job is one run: rank 0's
    return run, run.latest


@pytest.mark.parametrize("slow", [1, 0])
def test_the_job_is_one_run_with_every_ranks_figures_and_the_slowed_rank_as_straggler(listener, address, slow):
    code, output = run_job(EXAMPLE, "--steps", "30", "--every", "5", "--slow-rank", str(slow), "--slow-ms", "60",
                           address=address)
    assert code == 0, output[-3000:]
    run, snapshot = final_snapshot(listener)
    payload = snapshot.parts["distributed"]
    assert payload.world_size == 2 and payload.every == 5
    assert payload.step == 30  # the last window: closing waits for the gather every rank launched
    assert payload.wait_source == "ddp allreduce"
    assert payload.straggler == slow
    assert payload.wait_s[1 - slow] > payload.wait_s[slow]
    for rank in (0, 1):
        for name in ("loss", "steps_per_s", "wait_ms"):
            rows = run.history.rows(f"rank{rank}/{name}")
            assert len(rows) >= 1 and np.isfinite(rows["max"]).all()
        rows = run.history.rows(f"rank{rank}/loss")
        assert rows["last_step"][-1] == payload.step and np.isclose(rows["max"][-1], payload.loss[rank])
    assert len(payload.names) == 0  # DDP's replicated parameters are shown by rank 0's own weights view
    assert {"weights", "embedding"} <= set(snapshot.parts)


def test_merged_statistics_of_dtensor_shards_equal_those_of_the_whole_tensors(listener, address, folder):
    code, output = run_job(HERE / "sharded_train.py", str(folder), "--steps", "12", "--every", "4", address=address)
    assert code == 0, output[-3000:]
    _, snapshot = final_snapshot(listener)
    payload = snapshot.parts["distributed"]
    assert payload.step == 12
    assert payload.names == ["weight embed", "grad embed", "weight proj", "grad proj"]
    full = load_file(str(folder / "full.safetensors"))
    for t, name in enumerate(payload.names):
        whole = full[f"{payload.step}/{name}"].astype(np.float32).reshape(-1)
        assert payload.count[t] == whole.size and payload.nonfinite[t] == 0
        expected, _ = np.histogram(whole, bins=histogram.edges(int(payload.e[t]), int(payload.k0[t])))
        np.testing.assert_array_equal(payload.counts[t], expected)
        alone = local_stats([torch.from_numpy(whole)])[0].numpy()  # one process, the whole tensor
        assert (payload.e[t], payload.k0[t]) == (alone[6], alone[7])
        assert payload.min[t] == whole.min() and payload.max[t] == whole.max()
        assert np.isclose(payload.total[t], whole.astype(np.float64).sum(), rtol=1e-9, atol=1e-12)
        assert np.isclose(payload.norm[t], np.linalg.norm(whole.astype(np.float64)), rtol=1e-9)
    assert "weights" in snapshot.parts and "embedding" not in snapshot.parts  # no forward on one rank alone
    leader, other = (json.loads((folder / f"rank{r}.json").read_text()) for r in (0, 1))
    assert leader["recording"] and "zmq" in leader["loaded"]
    assert not other["recording"] and other["loaded"] == []  # no socket, no sender on the other rank


def test_a_job_with_no_window_trains_to_its_end(folder):
    code, output = run_job(EXAMPLE, "--steps", "20", "--every", "5", address=f"ipc://{folder}/nobody.sock")
    assert code == 0, output[-3000:]
    assert output.count("no gpuviz is listening") == 1  # rank 0 only


def test_a_window_closed_mid_run_and_started_again_follows_the_job(listener, address):
    job = start_job(EXAMPLE, "--steps", "400", "--every", "5", "--slow-rank", "1", "--slow-ms", "10", address=address)
    try:
        assert listener.wait_for(lambda lis: bool(lis.runs()), WAIT_S)
        listener.close()
        again = Listener(address)
        try:
            assert again.wait_for(lambda lis: any("distributed" in run.latest.parts for run in lis.runs()), WAIT_S)
            code, output = finish(job)
            assert code == 0, output[-3000:]
            assert again.wait_for(lambda lis: any(run.finished for run in lis.runs()), WAIT_S)
            assert again.runs()[0].latest.step == 400
        finally:
            again.close()
    finally:
        if job.poll() is None:
            kill(job)
            job.communicate()


def test_a_rank_that_raises_ends_the_job_with_an_error(folder, listener, address):
    code, output = run_job(HERE / "faulty_train.py", str(folder), "--raise-rank", "1", "--raise-at", "7",
                           address=address)
    assert code != 0
    assert "rank 1 fails at step 7 on purpose" in output


def test_every_differing_between_ranks_is_one_clear_error_on_every_rank(folder, address):
    code, output = run_job(HERE / "faulty_train.py", str(folder), "--every", "10", "--rank1-every", "20",
                           address=address)
    assert code != 0
    sentence = ("gpuviz attach: rank 1 gave every=20 but rank 0 gave every=10; every rank must give the same "
                "value")
    for rank in (0, 1):
        assert (folder / f"rank{rank}.txt").read_text() == sentence, output[-3000:]
