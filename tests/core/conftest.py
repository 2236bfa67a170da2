"""Fixtures of the core tests."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Torch on one thread, as a tracker's worker runs it: the same reductions on both sides."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
