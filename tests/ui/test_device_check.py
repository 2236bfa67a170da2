"""`--device cuda` without CUDA in an interactive window: a dialog says so, and it trains on the CPU
(the scripted run's refusal is in tests/cli/test_device_refused.py)."""

import pytest
import torch

from gpuviz_app.ui.app import checked_device
from gpuviz_app.ui.launch_options import LaunchOptions

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def test_an_interactive_run_says_so_and_trains_on_the_cpu(capsys):
    said = []
    options = checked_device(LaunchOptions(device="cuda", steps=3), said.append)
    assert options == LaunchOptions(device="cpu", steps=3)
    assert said == ["gpuviz cannot train on cuda: torch sees no CUDA device.\n\nTraining on the CPU instead."]
    assert "training on the CPU instead" in capsys.readouterr().err


def test_devices_that_need_no_check_pass_untouched():
    for device in ("auto", "cpu"):
        options = LaunchOptions(device=device, quit_when_done=True)
        assert checked_device(options, pytest.fail) is options
