"""Shared test set-up.

Render-tier tests draw on an offscreen EGL context and UI tests on Qt's GLX context under
Xvfb. One process cannot switch from GLX back to EGL, so render tests are ordered before
UI tests (and CLI tests start their own processes). The suite runs on two pytest-xdist
workers, each module whole on one worker, handed out in this order; the longest modules,
which only start processes of their own, come first, so that neither worker is left with
them at the end.
"""

from __future__ import annotations

import os
import tempfile

import pytest

# Scripts the tests start never open a window, nor reach one a user has running.
os.environ.setdefault("GPUVIZ_LAUNCH", "0")
os.environ.setdefault("GPUVIZ_ADDRESS", f"ipc://{tempfile.mkdtemp(prefix='gvtest')}/gpuviz.sock")

_TIER_ORDER = {"cli": 0, "core": 1, "data": 2, "export": 3, "render": 4, "ui": 5}
# modules of minutes whose tests run only other processes (no GL in the test's own process)
_FIRST = ("tests/test_bench.py", "tests/test_readme_commands.py")


def pytest_collection_modifyitems(config, items):
    def tier(item) -> int:
        if item.nodeid.startswith(_FIRST):
            return -1
        parts = item.nodeid.split("/")
        return _TIER_ORDER.get(parts[1], 3) if len(parts) > 2 and parts[0] == "tests" else 3

    items.sort(key=tier)  # stable: keeps file order within a tier


def has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") and not has_cuda():
        pytest.skip("needs an NVIDIA GPU with CUDA")


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """Each test gets its own config and data dirs: no test sees a user's settings or another test's."""
    root = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(root / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))  # glyph tiles saved by windows stay the test's
    monkeypatch.setenv("GPUVIZ_RUNS", str(root / "runs"))  # runs a test records never reach the user's
    yield
