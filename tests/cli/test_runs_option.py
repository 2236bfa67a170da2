"""`--runs DIR` (the window, `run` and `open`): the runs directory is set before the window starts,
and a DIR that cannot be made or written to is refused in one line, exit 2, with no window."""

from __future__ import annotations

import os

import pytest

from gpuviz_app.store.layout import RUNS_ENV, runs_dir
from tests.stored_runs import write_stored_run


@pytest.fixture
def window(monkeypatch):
    """Stands in for the window: records the runs directory it would have started with."""
    import gpuviz_app.ui.app

    started = []
    monkeypatch.setattr(gpuviz_app.ui.app, "run_app", lambda options: started.append(runs_dir()) or 0)
    monkeypatch.setenv(RUNS_ENV, "")  # restored after the test (the option sets it for the process)
    return started


def commands(tmp_path, runs: str) -> list[list[str]]:
    script = tmp_path / "train.py"
    script.write_text("print('training')\n")
    stored = write_stored_run(tmp_path / "stored")
    return [["--runs", runs, "--no-listen"], ["run", "--runs", runs, str(script)], ["open", "--runs", runs, stored]]


def test_runs_dir_is_made_and_set_before_the_window_starts(tmp_path, window):
    from gpuviz_app.cli import main

    for n in range(3):
        argv = commands(tmp_path, str(tmp_path / "kept" / str(n)))[n]
        assert main(argv) == 0, argv
        assert window[-1] == str(tmp_path / "kept" / str(n)), argv
        assert os.path.isdir(window[-1])
    assert len(window) == 3


def test_a_runs_dir_that_cannot_be_made_is_refused_in_one_line(tmp_path, window, capsys):
    from gpuviz_app.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for bad, reason in ((blocker, "not a directory"), (blocker / "runs", "not a directory")):
        for argv in commands(tmp_path, str(bad)):
            try:
                code = main(argv)
            except SystemExit as exc:  # the window's own parser exits
                code = exc.code
            assert code == 2, argv
            lines = capsys.readouterr().err.strip().splitlines()
            assert lines == [f"error: {bad}: {reason}"], (argv, lines)
    assert window == []
    assert os.environ[RUNS_ENV] == ""
