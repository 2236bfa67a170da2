"""Fixtures of the distributed tests: a short folder, a socket address in it, a listener there."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from gpuviz_app.sources.remote import Listener


@pytest.fixture
def folder():
    path = Path(tempfile.mkdtemp(prefix="gv"))  # short: a Unix socket path has a length limit
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def address(folder):
    return f"ipc://{folder}/w.sock"


@pytest.fixture
def listener(address):
    listening = Listener(address)
    yield listening
    listening.close()
