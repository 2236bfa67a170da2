"""Same host, CUDA: a large payload from a script's process to the window's, as an IPC handle vs
as host bytes.

A sender process (this module run with `send`) publishes a landscape payload of the given
size on its device every `INTERVAL_S`; the listener here times each from the header's sent
time (stamped before any array is encoded, so the host path's device-to-host copy counts) to
the payload being the window's (host array, or CUDA tensor copied out of the slot). Both arms
in one run, the host arm with `GPUVIZ_IPC=off`. Without CUDA only the host arm runs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from gpuviz_app.bench.common import Figure

MB = 1 << 20
INTERVAL_S = 0.1
WAIT_S = 120.0


def _arm(address: str, device: str, megabytes: int, count: int, ipc: bool) -> tuple[list[float], str]:
    """Latencies (s) of `count` payloads and how the last one travelled."""
    from gpuviz_app.sources.remote import Listener

    latencies: list[float] = []

    def on_message(run) -> None:
        if run.latest.step > 0:
            latencies.append(time.time() - run.latest.wall_time)

    env = {**os.environ, "GPUVIZ_IPC": "on" if ipc else "off"}
    listener = Listener(address, on_message=on_message)
    sender = subprocess.Popen([sys.executable, "-m", "gpuviz_app.bench.ipc", "send", address, str(count + 1), device,
                               str(megabytes)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if not listener.wait_for(lambda ls: len(latencies) >= count, WAIT_S):
            raise RuntimeError(f"the sender did not deliver its payloads: {sender.stderr.read()[-500:]}")
        transport = listener.runs()[0].transport
    finally:
        listener.close()
        try:
            sender.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            sender.kill()
            sender.wait()
    return latencies[:count], transport


def run(quick: bool) -> list[Figure]:
    import torch

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    megabytes = 16 if quick else 64
    count = 5 if quick else 20
    folder = tempfile.mkdtemp(prefix="gvb")
    try:
        host, host_transport = _arm(f"ipc://{folder}/h.sock", device, megabytes, count, ipc=False)
        host_ms = statistics.median(host) * 1000
        key, title = f"ipc.payload_{megabytes}mb", f"Payload {megabytes} MB to the window, same host (ms)"
        if not cuda:
            return [Figure(key, title + ", host path", host_ms, "ms",
                           note="IPC not run: needs CUDA (torch sees no CUDA device)",
                           extra={"transport": host_transport})]
        ipc, ipc_transport = _arm(f"ipc://{folder}/i.sock", device, megabytes, count, ipc=True)
        return [Figure(key, title, statistics.median(ipc) * 1000, "ms", peer=host_ms,
                       peer_name="the same payload as host bytes (GPUVIZ_IPC=off)",
                       note=f"{ipc_transport}; medians of {count}", extra={"transport": ipc_transport})]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _send(address: str, count: int, device: str, megabytes: int) -> None:
    """The sender process: a window's subscriptions answered, `count` payloads sent."""
    import socket

    import torch
    import zmq

    from gpuviz_app.core.probes.landscape.payload import LandscapePayload
    from gpuviz_app.sources.cuda_slots import IpcExporter
    from gpuviz_app.sources.wire import Encoder, RunInfo

    gpu = IpcExporter(address)
    encoder = Encoder(gpu=gpu)
    context = zmq.Context()
    xpub = context.socket(zmq.XPUB)
    xpub.setsockopt(zmq.XPUB_VERBOSER, 1)
    xpub.setsockopt(zmq.IMMEDIATE, 1)
    xpub.connect(address)
    windows = 0

    def pump(timeout_s: float) -> None:
        nonlocal windows
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not xpub.poll(int(left * 1000)):
                return
            event = xpub.recv()
            if not gpu.subscription(event) and len(event) == 1:
                windows += 1 if event[:1] == b"\x01" else -1

    deadline = time.monotonic() + WAIT_S
    while not windows and time.monotonic() < deadline:
        pump(0.1)
    side = int((megabytes * MB // 4) ** 0.5)
    run = RunInfo(script="bench-ipc", host=socket.gethostname(), pid=os.getpid(), name="ipc", started=time.time())
    for seq in range(count):
        grid = torch.rand(side, side, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        parts = {"landscape": LandscapePayload(grid=grid, resolution=side)}
        frames = encoder.encode(run, seq + 1, {"step": seq, "wall_time": time.time(), "finished": False}, {},
                                {"landscape": seq + 1}, parts, {})
        xpub.send_multipart(frames, copy=False)
        gpu.sent(seq + 1, True)
        pump(INTERVAL_S)
    pump(1.0)
    gpu.close()
    xpub.close(linger=1000)
    context.term()


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "send":
    _send(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
