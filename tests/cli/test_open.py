"""`gpuviz open PATH`: a stored run or a TensorBoard log opens in the window; anything else is
refused in one sentence naming the path (exit 2), never with a traceback."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from gpuviz_app.store.open import OpenError, check_openable, kind_of, open_frames, STORED, TENSORBOARD
from tests.stored_runs import write_stored_run


def refused(capsys, path) -> str:
    from gpuviz_app.cli import main

    assert main(["open", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), err
    return lines[0][len(f"error: {path}: "):]


def test_what_is_not_a_run_is_refused_before_any_window(capsys, tmp_path, monkeypatch):
    import gpuviz_app.ui.app

    monkeypatch.setattr(gpuviz_app.ui.app, "run_app", lambda options: pytest.fail("a window was opened"))
    assert refused(capsys, tmp_path / "missing") == "no such file or directory"
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not really")
    assert refused(capsys, folder).startswith("not a gpuviz run")
    text = tmp_path / "notes.csv"
    text.write_text("x,y\n1,2\n")
    assert "not a gpuviz run" in refused(capsys, text)


def test_a_stored_run_opens_in_the_window_read_by_step(tmp_path, monkeypatch):
    import gpuviz_app.ui.app
    from gpuviz_app.cli import main
    from gpuviz_app.ui.launch_options import LaunchOptions

    run = write_stored_run(tmp_path, steps=(0, 2, 5, 9))
    frames = open_frames(run)
    assert list(frames.steps()) == [0, 2, 5, 9]
    assert frames.snapshot_at(6).metrics.totals()["train_loss"] == 3
    assert check_openable(run) == STORED
    asked = []
    monkeypatch.setattr(gpuviz_app.ui.app, "run_app", lambda options: asked.append(options) or 0)
    monkeypatch.setenv("DISPLAY", ":99")
    assert main(["open", run, "--views", "metrics,weights"]) == 0
    assert asked == [LaunchOptions(run=run, views=("metrics", "weights"), listen=None)]


def test_a_tensorboard_log_directory_is_recognised_by_its_event_files(tmp_path):
    logdir = tmp_path / "logs"
    (logdir / "run-a" / "train").mkdir(parents=True)
    events = logdir / "run-a" / "train" / "events.out.tfevents.1700000000.host.1.0"
    events.write_bytes(b"")
    assert kind_of(logdir) == kind_of(events) == TENSORBOARD
    deep = tmp_path / "data" / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "events.out.tfevents.1").write_bytes(b"")
    assert kind_of(tmp_path / "data") == STORED  # a dataset's deep tree is not searched through


def test_a_missing_reader_or_importer_is_said_in_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gpuviz_app.store.reader", None)
    monkeypatch.setitem(sys.modules, "gpuviz_app.store.tensorboard", None)
    with pytest.raises(OpenError) as stored:
        open_frames(tmp_path)
    assert str(stored.value) == f"{tmp_path}: cannot open stored runs yet"
    (tmp_path / "events.out.tfevents.1").write_bytes(b"")
    with pytest.raises(OpenError) as logs:
        check_openable(tmp_path)
    assert str(logs.value) == f"{tmp_path}: cannot open TensorBoard logs yet"


def test_an_unreadable_log_directory_is_one_sentence_or_a_run_with_warnings(tmp_path):
    (tmp_path / "events.out.tfevents.1700000000.host.1.0").write_bytes(np.arange(64, dtype=np.uint8).tobytes())
    try:
        frames = open_frames(tmp_path)
    except OpenError as exc:
        assert str(exc).startswith(f"{tmp_path}: ") and "\n" not in str(exc)
    else:
        assert frames.warnings  # what could not be read is said


def test_the_command_itself_never_shows_a_traceback(run_gpuviz, tmp_path):
    proc = run_gpuviz("open", str(tmp_path / "nothing"), timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'nothing'}: no such file or directory"
