"""The malformed corpus: each input refused with a one-sentence reason naming the file."""

from __future__ import annotations

import json

import pytest

from gpuviz_app.data.dataset import DatasetError
from gpuviz_app.data.inspect import inspect_command
from gpuviz_app.data.open import load_dataset
from tests.data.malformed import CASES
from tests.datasets import make


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 25
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_malformed_input_is_refused_with_a_reason_naming_the_file(tmp_path, case):
    spec, named = case.make(tmp_path)
    with pytest.raises(DatasetError) as info:
        load_dataset(spec)
    exc = info.value
    assert exc.path == str(named), f"the reason names {exc.path}, not {named}"
    assert case.expect.lower() in exc.reason.lower(), exc.reason
    assert "\n" not in exc.reason and not exc.reason.endswith(".")
    assert "Traceback" not in exc.reason


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_inspect_prints_one_error_line_and_exits_2(tmp_path, case, capsys):
    spec, named = case.make(tmp_path)
    paths = spec if isinstance(spec, list) else [spec]
    assert inspect_command(paths) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {named}: ")


@pytest.mark.parametrize("name", ["csv", "idx-gz-pair", "images"])
def test_inspect_json_has_the_promised_fields(tmp_path, name, capsys):
    sample = make(name, tmp_path)
    assert inspect_command([str(p) for p in sample.paths], as_json=True) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"samples", "classes", "shape", "skipped", "warnings", "dtype"} <= info.keys()
    assert (info["samples"], info["classes"], info["skipped"]) == (sample.samples, sample.classes, sample.skipped)
