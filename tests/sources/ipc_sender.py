"""A sender of payloads on a device, for the CUDA IPC tests: `python ipc_sender.py ADDRESS COUNT DEVICE`.

Waits for a window at ADDRESS, sends COUNT landscape payloads whose grid is `expected_grid(seq)`
on DEVICE (each only once the window acknowledged the one before, when it came as a handle),
prints one JSON line "sent", then waits until the window goes and prints one JSON line "gone"
with what the slots held before and after.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

import torch
import zmq

from gpuviz_app.core.probes.landscape.payload import LandscapePayload
from gpuviz_app.sources.cuda_slots import IpcExporter
from gpuviz_app.sources.wire import Encoder, RunInfo

SIDE = 256
WAIT_S = 120.0


def expected_grid(seq: int, device: str = "cpu") -> torch.Tensor:
    """Exact in float32 on any device: integers below 2**24."""
    return (torch.arange(SIDE * SIDE, dtype=torch.float32, device=device) * seq).reshape(SIDE, SIDE)


def main() -> None:
    address, count, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    gpu = IpcExporter(address)
    made = []
    allocate = gpu.allocate

    def counting(where):
        inner = allocate(where)

        def make(dtype, shape):
            made.append(list(shape))
            return inner(dtype, shape)

        return make

    gpu.allocate = counting
    encoder = Encoder(gpu=gpu)
    context = zmq.Context()
    xpub = context.socket(zmq.XPUB)
    xpub.setsockopt(zmq.XPUB_VERBOSER, 1)
    xpub.setsockopt(zmq.IMMEDIATE, 1)
    xpub.connect(address)
    windows = 0

    def pump(until) -> None:
        nonlocal windows
        deadline = time.monotonic() + WAIT_S
        while not until():
            if time.monotonic() > deadline:
                raise SystemExit("the window did not answer in time")
            if xpub.poll(100):
                event = xpub.recv()
                if not gpu.subscription(event) and len(event) == 1:
                    windows += 1 if event[:1] == b"\x01" else -1

    pump(lambda: windows > 0 and (gpu.offer is not None or device == "cpu"))
    run = RunInfo(script="ipc_sender.py", host=socket.gethostname(), pid=os.getpid(), name="ipc",
                  started=time.time())
    for seq in range(1, count + 1):
        grid = expected_grid(seq, device)
        parts = {"landscape": LandscapePayload(grid=grid, resolution=SIDE)}
        frames = encoder.encode(run, seq, {"step": seq, "finished": False}, {}, {"landscape": seq}, parts, {})
        xpub.send_multipart(frames, copy=False)
        gpu.sent(seq, True)
        pump(lambda: all(not s.in_flight for ring in gpu.rings.values() for s in ring.slots))
    torch.cuda.synchronize() if device.startswith("cuda") else None
    held = torch.cuda.memory_allocated() if device.startswith("cuda") else 0
    print(json.dumps({"sent": count, "made": made, "reason": gpu.reason}), flush=True)
    pump(lambda: windows <= 0 and gpu.offer is None)
    freed = torch.cuda.memory_allocated() if device.startswith("cuda") else 0
    print(json.dumps({"gone": True, "held": held, "after": freed, "rings": len(gpu.rings)}), flush=True)
    xpub.close(linger=0)
    context.term()


if __name__ == "__main__":
    main()
