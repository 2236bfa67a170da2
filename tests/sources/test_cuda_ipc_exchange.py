"""A sender process and a window's listener exchanging payloads: on the CPU they travel as host
bytes and the run says why; on CUDA (`gpu` tests) as IPC handles, byte-exact, one slot reused
for every message, and the slots freed once the window goes."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gpuviz_app.sources.remote import Listener

REPO = Path(__file__).resolve().parents[2]
SENDER = Path(__file__).with_name("ipc_sender.py")
WAIT_S = 120.0
COUNT = 6


@pytest.fixture
def address():
    folder = tempfile.mkdtemp(prefix="gv")
    yield f"ipc://{folder}/w.sock"
    shutil.rmtree(folder, ignore_errors=True)


def start_sender(address: str, count: int, device: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(SENDER), address, str(count), device], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_line(sender: subprocess.Popen) -> dict:
    line = sender.stdout.readline()  # the sender ends itself within its own bounded waits
    assert line, f"the sender printed nothing: {sender.stderr.read()[-2000:]}"
    return json.loads(line)


def exchange(address: str, count: int, device: str):
    """Run a sender; return each received grid (as the listener's thread saw it), the run, the
    listener (closed) and the sender's two reports."""
    from tests.sources.ipc_sender import expected_grid

    received = []

    def on_message(run):
        grid = run.latest.parts["landscape"].grid
        is_cuda = getattr(getattr(grid, "device", None), "type", "cpu") == "cuda"
        host = grid.cpu().numpy() if is_cuda else grid  # None: a handle the window refused
        exact = host is not None and host.tobytes() == expected_grid(run.latest.step).numpy().tobytes()
        received.append((run.latest.step, is_cuda, run.latest.device, exact))

    listener = Listener(address, on_message=on_message)
    sender = start_sender(address, count, device)
    try:
        sent = read_line(sender)
        assert listener.wait_for(lambda ls: len(received) >= count, WAIT_S), "the messages did not all arrive"
        run = listener.runs()[0]
        importer = listener._ipc.get(run.info.key)
        opened = len(importer.slots) if importer is not None else 0
        listener.close()
        gone = read_line(sender)
        assert sender.wait(WAIT_S) == 0, sender.stderr.read()[-2000:]
    finally:
        listener.close()
        if sender.poll() is None:
            sender.kill()
            sender.wait()
    return received, run, opened, sent, gone


def test_on_the_cpu_payloads_travel_as_host_bytes_and_the_run_says_why(address):
    received, run, opened, sent, gone = exchange(address, 3, "cpu")
    assert [r[0] for r in received] == [1, 2, 3]
    assert all(exact and not is_cuda and device == "cpu" for _, is_cuda, device, exact in received)
    assert sent["made"] == [] and opened == 0
    assert run.transport == "host bytes: the tensors are on the CPU"


@pytest.mark.gpu
def test_cuda_payloads_cross_as_ipc_handles_byte_exact_in_one_reused_slot_freed_when_the_window_goes(address):
    received, run, opened, sent, gone = exchange(address, COUNT, "cuda")
    assert [r[0] for r in received] == list(range(1, COUNT + 1))
    assert all(is_cuda and device.startswith("cuda") and exact for _, is_cuda, device, exact in received), received
    assert run.transport == "CUDA IPC" and sent["reason"] == ""
    assert sent["made"] == [[256, 256]], "each message acknowledged before the next: one slot, reused"
    assert opened == 1, "the window rebuilt the slot once"
    assert gone["rings"] == 0 and gone["after"] <= gone["held"] - 256 * 256 * 4, gone


@pytest.mark.gpu
def test_a_window_that_cannot_see_the_gpu_refuses_and_gets_host_bytes(address, monkeypatch):
    """A handle the window cannot open (here: its GPU hidden from the lookup) makes it refuse
    once; the sender turns to host bytes and every later message arrives exact."""
    import gpuviz_app.sources.cuda_ipc as cuda_ipc

    monkeypatch.setattr(cuda_ipc, "_device_index", lambda uuid: None)
    received, run, opened, sent, gone = exchange(address, COUNT, "cuda")
    assert not received[0][1]  # the first one: its handle was refused
    assert all(exact and not is_cuda for _, is_cuda, _, exact in received[1:]), received
    assert run.transport.startswith("host bytes:") and "the window cannot see the GPU" in run.transport
    assert gone["rings"] == 0


def test_the_expected_grid_is_exact_in_float32():
    from tests.sources.ipc_sender import expected_grid

    grid = expected_grid(9).numpy()
    assert np.array_equal(grid.astype(np.float64), np.arange(256 * 256, dtype=np.float64).reshape(256, 256) * 9)
