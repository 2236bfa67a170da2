"""Running the app and its peers in fresh processes, on a display (Xvfb when there is none)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def display_env() -> Iterator[dict]:
    """An environment with a usable X display: the current one, or a private Xvfb."""
    env = dict(os.environ)
    if env.get("DISPLAY"):
        yield env
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise RuntimeError("no DISPLAY and no Xvfb to start one")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as f:
            number = f.readline().strip()
        env["DISPLAY"] = f":{number}"
        yield env
    finally:
        proc.terminate()
        proc.wait(10)


def run_app(args: list[str], env: dict, timeout: float = 600) -> dict:
    """Start `gpuviz ARGS` fresh; return its timing report and the launch time."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "timing.json")
        env = dict(env, GPUVIZ_TIMING=report, XDG_CONFIG_HOME=os.path.join(tmp, "config"))
        launched = time.time()
        proc = subprocess.run([sys.executable, "-m", "gpuviz_app", *args], env=env, timeout=timeout,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"gpuviz exited {proc.returncode}: {proc.stderr[-500:]}")
        with open(report) as f:
            data = json.load(f)
    data["launched"] = launched
    return data


def run_script(code: str, env: dict, timeout: float = 600) -> tuple[float, str]:
    """Run `code` in a fresh interpreter; return the launch time and its stdout."""
    launched = time.time()
    proc = subprocess.run([sys.executable, "-c", code], env=env, timeout=timeout, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-500:])
    return launched, proc.stdout


def steady_rate(samples: list[tuple[int, float]], skip_steps: int) -> float:
    """Steps per second between the first sample past `skip_steps` and the last one."""
    usable = [(s, t) for s, t in samples if s >= skip_steps]
    if len(usable) < 2 or usable[-1][1] <= usable[0][1]:
        return float("nan")
    (s0, t0), (s1, t1) = usable[0], usable[-1]
    return (s1 - s0) / (t1 - t0)
