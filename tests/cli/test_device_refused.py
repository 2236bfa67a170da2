"""A window run scripted with `--device cuda` on a machine without CUDA refuses as `record` does."""

import pytest
import torch

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
MESSAGE = "error: --device cuda was asked for, but torch sees no CUDA device"


def test_a_scripted_window_run_exits_2_with_the_same_line_as_record(run_gpuviz, tmp_path):
    shot = tmp_path / "w.png"
    window = run_gpuviz("--device", "cuda", "--steps", "5", "--quit-when-done", "--screenshot", str(shot))
    record = run_gpuviz("record", "--device", "cuda", "--steps", "5", "--csv", str(tmp_path / "m.csv"))
    assert window.returncode == 2 and record.returncode == 2
    assert window.stderr.strip().splitlines() == [MESSAGE] == record.stderr.strip().splitlines()
    assert not shot.exists()
