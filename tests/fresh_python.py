"""Run code in a fresh interpreter: what a module imports, or how a process exits, can only
be seen from outside."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
