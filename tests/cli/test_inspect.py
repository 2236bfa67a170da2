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
