"""`gpuviz run SCRIPT.py` without --screenshot/--out opens the window and runs the script there;
with no display it says so in one sentence and runs nothing."""

from __future__ import annotations

from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "ui" / "user_scripts"


def test_without_a_display_the_window_run_is_refused_in_one_sentence_and_nothing_runs(run_gpuviz, tmp_path):
    marker = tmp_path / "ran.txt"
    proc = run_gpuviz("run", str(SCRIPTS / "blobs_mlp.py"), "--marker", str(marker), display=False, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no display to open the window on")
    assert "--screenshot" in lines[0] and not marker.exists()


def test_output_options_without_an_output_are_refused(run_gpuviz, tmp_path):
    proc = run_gpuviz("run", "--view", "weights", "--every", "5", str(SCRIPTS / "blobs_mlp.py"), timeout=120)
    assert proc.returncode == 2
    assert "--view, --every apply only with --screenshot or --out" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_window_run_gets_the_script_its_arguments_steps_and_views(monkeypatch, tmp_path):
    import gpuviz_app.ui.app
    from gpuviz_app.cli import main
    from gpuviz_app.ui.launch_options import LaunchOptions

    asked = []
    monkeypatch.setattr(gpuviz_app.ui.app, "run_app", lambda options: asked.append(options) or 0)
    monkeypatch.setenv("DISPLAY", ":99")
    script = str(SCRIPTS / "blobs_mlp.py")
    assert main(["run", "--steps", "20", "--quit-when-done", "--views", "metrics,weights", script,
                 "--steps", "7", "--marker", "m.txt"]) == 0
    assert asked == [LaunchOptions(steps=20, quit_when_done=True, views=("metrics", "weights"), script=script,
                                   script_args=("--steps", "7", "--marker", "m.txt"))]


def test_a_script_that_raises_in_the_window_exits_1_with_its_traceback(run_gpuviz):
    script = SCRIPTS / "raises_at_step_5.py"
    proc = run_gpuviz("run", "--quit-when-done", str(script), timeout=600)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f"error: {script} raised ValueError: broken on purpose at step 5" in proc.stderr
    assert "Traceback" in proc.stderr and "broken_loader" in proc.stderr
