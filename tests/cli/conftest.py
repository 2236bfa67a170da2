"""CLI tests run `gpuviz` as users do: in a separate process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def gpuviz(*args: str, display: bool = True, timeout: float = 300, env: dict | None = None,
           **kwargs) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    if not display:
        environment.pop("DISPLAY", None)
        environment.pop("WAYLAND_DISPLAY", None)
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "gpuviz_app", *args], capture_output=True, text=True,
                          timeout=timeout, env=environment, **kwargs)


@pytest.fixture
def run_gpuviz():
    return gpuviz
