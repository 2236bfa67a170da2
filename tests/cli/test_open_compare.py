"""`gpuviz open A B ...`: several runs open the compare window; one path keeps the single-run
window; a path that is not a run is refused in one sentence (exit 2) before any window opens."""

from __future__ import annotations

import pytest

from tests.stored_runs import write_stored_run


def test_several_runs_open_the_compare_window(tmp_path, monkeypatch):
    import gpuviz_app.ui.app
    from gpuviz_app.cli import main
    from gpuviz_app.ui.launch_options import LaunchOptions

    a, b = write_stored_run(tmp_path, steps=(0, 2)), write_stored_run(tmp_path, steps=(0, 3))
    asked = []
    monkeypatch.setattr(gpuviz_app.ui.app, "run_app", lambda options: asked.append(options) or 0)
    monkeypatch.setenv("DISPLAY", ":99")
    assert main(["open", a, b]) == 0
    assert main(["open", a]) == 0
    assert asked == [LaunchOptions(compare=(a, b), listen=None), LaunchOptions(run=a, listen=None)]


def test_a_bad_path_among_several_is_refused_before_any_window(tmp_path, monkeypatch, capsys):
    import gpuviz_app.ui.app
    from gpuviz_app.cli import main

    monkeypatch.setattr(gpuviz_app.ui.app, "run_app", lambda options: pytest.fail("a window was opened"))
    a = write_stored_run(tmp_path, steps=(0, 2))
    missing = tmp_path / "missing"
    assert main(["open", a, str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: {missing}: no such file or directory"]
