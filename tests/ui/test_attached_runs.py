"""Scripts in other processes attached to a listening window: the views follow each one, the
Runs menu lists them (an ended one stays), and closing the window leaves a script training."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.ui.conftest import wait_frame

REPO = Path(__file__).resolve().parents[2]
REGRESSION = REPO / "examples" / "mlp_regression.py"
LONG = 180_000


def rendered(window, name: str) -> np.ndarray:
    return window.panels[name].canvas.render()


def distinct_colours(pixels: np.ndarray) -> int:
    return len(np.unique(pixels.reshape(-1, 4), axis=0))


@pytest.fixture
def address():
    folder = tempfile.mkdtemp(prefix="gv")  # short: a Unix socket path has a length limit
    yield f"ipc://{folder}/w.sock"
    shutil.rmtree(folder, ignore_errors=True)


def start_script(address: str, script: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "GPUVIZ_ADDRESS": address, "GPUVIZ_LAUNCH": "0", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(script), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)


def until_told_script(tmp_path: Path) -> tuple[Path, Path]:
    """A script that trains until `stop` exists, then 50 steps more, and prints its step count."""
    stop = tmp_path / "stop"
    script = tmp_path / "train_until_told.py"
    script.write_text(textwrap.dedent(f"""
        import sys, torch
        from pathlib import Path
        from torch import nn
        import gpuviz_app as gv
        torch.manual_seed(2)
        x = torch.randn(512, 5); y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
        model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        stop, extra = Path({str(stop)!r}), 50
        with gv.attach(model, loss_fn=nn.CrossEntropyLoss(), optimizer=opt, sample=(x[:200], y[:200]),
                       name="until-told") as viz:
            while extra:
                idx = torch.randint(0, 512, (64,))
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(); loss.backward(); opt.step()
                viz.step(loss=loss)
                if stop.exists():
                    extra -= 1
        print("steps", viz.step_count)
    """))
    return script, stop


def test_attached_scripts_are_shown_listed_and_outlive_the_window(main_window, qtbot, tmp_path, address):
    names = ("weights", "embedding")
    window = main_window("builtin:moons", "--device", "cpu", "--views", "metrics,weights,embedding",
                         "--listen", address)
    for name in names:
        qtbot.waitUntil(lambda name=name: window.panels[name].has_canvas, timeout=LONG)
    wait_frame(qtbot, window, lambda s: s.step >= 5 and all(s.parts.get(n) is not None for n in names), LONG)
    qtbot.waitUntil(lambda: window.attached_runs.listener is not None, timeout=LONG)  # from the first frame on
    builtin = {name: rendered(window, name) for name in names}

    short = start_script(address, REGRESSION, "--steps", "30")  # a script that ends while the window is up
    wait_frame(qtbot, window, lambda s: s.model == "mlp-regression" and s.finished and s.step == 30, LONG)
    assert short.wait(LONG / 1000) == 0

    script, stop = until_told_script(tmp_path)
    long = start_script(address, script)
    try:
        wait_frame(qtbot, window, lambda s: s.model == "until-told" and s.step >= 20
                   and all(s.parts.get(n) is not None for n in names), LONG)
        qtbot.waitUntil(lambda: window.status.labels["step"].text() == f"step {window.drawn.step:,}", timeout=LONG)
        labels = [layer["label"] for layer in window.panels["weights"].views[0].payload.layers]
        assert labels == ["1 linear 32\u00d75", "2 linear 16\u00d732", "3 linear 3\u00d716"], labels
        assert len(np.asarray(window.panels["embedding"].views[0].frame.positions)) == 200
        for name in names:
            pixels = rendered(window, name)
            assert distinct_colours(pixels) > 50, f"the {name} view is blank"
            changed = np.abs(pixels.astype(int) - builtin[name].astype(int)).sum(axis=-1) > 30
            assert changed.mean() > 0.02, f"the {name} view still shows the built-in run"

        runs = window.attached_runs
        runs._fill_menu()
        lines = [action.text() for action in runs.menu.actions()]
        assert len(lines) == 2 and lines[0].startswith("mlp_regression.py mlp-regression (pid ")
        assert ": step 30, finished, payloads by host bytes" in lines[0]  # a CPU script: no CUDA IPC
        assert "train_until_told.py until-told" in lines[1]
        assert runs.menu.actions()[1].isChecked()
        last_seen = window.drawn.step

        window.close()  # the script trains on
        assert long.poll() is None
        stop.write_text("stop")
        out, err = long.communicate(timeout=LONG / 1000)
    finally:
        stop.write_text("stop")
        if long.poll() is None:
            long.wait(LONG / 1000)
    assert long.returncode == 0, err[-3000:]
    steps = int(out.split()[-1])
    assert steps >= last_seen + 50
