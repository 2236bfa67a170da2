"""`gpuviz inspect x.pt` must import torch (seconds): it says so before, instead of sitting silent."""

import io

import numpy as np


def test_inspect_of_a_pt_file_says_torch_is_starting_before_reading(tmp_path):
    import torch

    from gpuviz_app.data.inspect import inspect_command

    path = tmp_path / "d.pt"
    torch.save({"x": torch.tensor(np.random.rand(40, 3).astype(np.float32)), "y": torch.arange(40) % 2}, path)
    stream = io.StringIO()
    assert inspect_command([str(path)], progress=True, stream=stream) == 0
    lines = stream.getvalue().splitlines()
    starting = [i for i, line in enumerate(lines) if "starting torch" in line]
    reading = [i for i, line in enumerate(lines) if "reading tensors" in line]
    assert starting and reading and starting[0] < reading[0], lines
