"""`gpuviz inspect` and `gpuviz PATH` with every format, in a separate process as users run them."""

from __future__ import annotations

import json

import pytest

from tests.data.malformed import CASES
from tests.datasets import MAKERS, make

BY_NAME = {c.name: c for c in CASES}


@pytest.mark.parametrize("name", list(MAKERS))
def test_inspect_json_reports_every_format(run_gpuviz, tmp_path, name):
    sample = make(name, tmp_path)
    proc = run_gpuviz("inspect", *[str(p) for p in sample.paths], "--json", display=False)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert (info["samples"], info["classes"], info["skipped"]) == (sample.samples, sample.classes, sample.skipped)
    assert info["dtype"] == "float32" and isinstance(info["warnings"], list) and info["shape"]


def test_inspect_prints_a_readable_summary(run_gpuviz, tmp_path):
    sample = make("images", tmp_path)
    proc = run_gpuviz("inspect", str(sample.paths[0]), display=False)
    assert proc.returncode == 0, proc.stderr
    for word in ("samples   24", "classes   3", "skipped   1", "float32", "warning"):
        assert word in proc.stdout


@pytest.mark.parametrize("name", ["truncated-idx-gz", "pickle", "symlink-cycle", "absurd-idx-gz-header",
                                  "ragged-csv", "pt-arbitrary-object"])
def test_inspect_refuses_with_one_line_and_exit_2(run_gpuviz, tmp_path, name):
    spec, named = BY_NAME[name].make(tmp_path)
    paths = spec if isinstance(spec, list) else [spec]
    proc = run_gpuviz("inspect", *paths, display=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {named}: "), proc.stderr


def test_launching_with_a_path_trains_on_it(run_gpuviz, tmp_path):
    sample = make("csv", tmp_path)
    shot = tmp_path / "w.png"
    proc = run_gpuviz(str(sample.paths[0]), "--device", "cpu", "--steps", "30", "--quit-when-done",
                      "--screenshot", str(shot))
    assert proc.returncode == 0, proc.stderr
    from PIL import Image

    meta = Image.open(shot).text
    assert (meta["gpuviz:step"], meta["gpuviz:dataset"]) == ("30", "iris")


def test_launching_with_a_refused_path_exits_2_with_one_line(run_gpuviz, tmp_path):
    spec, named = BY_NAME["npz-no-labels"].make(tmp_path)
    proc = run_gpuviz(spec, "--device", "cpu", "--steps", "5", "--quit-when-done")
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {named}: "), proc.stderr
    assert "Traceback" not in proc.stderr


def _many_class_csv(path, classes=1000):
    rows = ["a,b,label"]
    for i in range(classes):
        rows += [f"{i % 7},{i % 5},c{i}"] * (1 + i % 3)  # 1 to 3 samples per class
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_thousand_class_line_is_summarised(run_gpuviz, tmp_path):
    path = _many_class_csv(tmp_path / "many.csv")
    proc = run_gpuviz("inspect", str(path), display=False)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.strip().startswith("classes"))
    assert len(line) < 200, line
    assert "classes   1000  (c0: 1, c1: 2, c10: " in line or "classes   1000  (" in line
    assert "… and 992 more" in line and "1–3 samples per class" in line
    info = json.loads(run_gpuviz("inspect", str(path), "--json", display=False).stdout)
    assert len(info["class_names"]) == 1000  # the JSON keeps every class


def _inspect_on_a_terminal(path, *args):
    """`gpuviz inspect` with stderr on a pseudo-terminal, as in a shell; (stdout, terminal output)."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "gpuviz_app", "inspect", str(path), *args],
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read()
    assert proc.wait(timeout=120) == 0
    os.close(master)
    return out, seen.decode(errors="replace")


def test_inspect_shows_progress_on_a_terminal_and_keeps_json_clean(run_gpuviz, tmp_path):
    path = _many_class_csv(tmp_path / "many.csv")
    out, terminal = _inspect_on_a_terminal(path, "--json")
    assert "loading" in terminal and "100%" in terminal
    assert json.loads(out)["classes"] == 1000  # stdout holds the JSON alone
    proc = run_gpuviz("inspect", str(path), "--json", display=False)  # stderr not a terminal: quiet
    assert proc.returncode == 0 and proc.stderr == ""
    proc = run_gpuviz("inspect", str(path), "--progress", display=False)
    assert "100%" in proc.stderr and "classes   1000" in proc.stdout
