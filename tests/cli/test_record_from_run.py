"""`gpuviz record --from-run` draws a stored run's frames with no training and no display, each as
the window's replay shows that step; `gpuviz export` writes its metrics. Bad inputs: one sentence,
exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.export.decode import assert_consecutive_frames_differ, decode_video, part_files
from tests.export.metrics_csv_reader import read_metrics_csv

STEPS = 6
SIZE = (256, 192)


@pytest.fixture(scope="module")
def probed_run(tmp_path_factory):
    """A run directory of `STEPS` steps of a small CNN with the weights probe at every step."""
    from gpuviz_app.store.layout import STORE_FILE, new_run_dir
    from gpuviz_app.store.writer import RunWriter
    from tests.store.probed_run import probed_snapshots

    run = new_run_dir("probed", root=str(tmp_path_factory.mktemp("runs")))
    writer = RunWriter(os.path.join(run, STORE_FILE), queue_size=STEPS + 1)
    for snapshot in probed_snapshots(STEPS, views=("weights",)):
        assert writer.offer(snapshot)
    writer.close()
    assert writer.dropped == 0
    return run


def stored_steps(run) -> np.ndarray:
    from gpuviz_app.store.reader import open_run

    reader = open_run(run)
    try:
        return reader.steps()
    finally:
        reader.close()


def replayed(run, steps, folder) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`steps` played through the window's replay source on a fresh canvas: the first step's RGBA
    pixels and that picture through the same video encoder, and the last step's pixels."""
    folder.mkdir()
    paths = folder / "first.npy", folder / "first.mp4", folder / "last.npy"
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    proc = subprocess.run([sys.executable, "-m", "tests.cli.stored_frame_reference", run, "weights",
                           ",".join(str(s) for s in steps), f"{SIZE[0]}x{SIZE[1]}", *map(str, paths)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    return np.load(paths[0]), decode_video(paths[1])[0][0], np.load(paths[2])


def test_each_stored_frame_in_the_range_becomes_a_video_frame_as_replayed(run_gpuviz, probed_run, tmp_path):
    steps = stored_steps(probed_run)
    first, last = 2, 5
    wanted = steps[(steps >= first) & (steps <= last)]
    assert len(wanted) >= 3
    out, png, csv = tmp_path / "w.mp4", tmp_path / "w.png", tmp_path / "m.csv"
    proc = run_gpuviz("record", "--from-run", probed_run, "--view", "weights", "--steps", f"{first}:{last}",
                      "--size", f"{SIZE[0]}x{SIZE[1]}", "--fps", "10", "--out", str(out), "--screenshot", str(png),
                      "--csv", str(csv), display=False)
    assert proc.returncode == 0, proc.stderr
    frames, _, _ = decode_video(out)
    assert len(frames) == len(wanted)
    assert_consecutive_frames_differ(frames)  # the weights move from stored step to step
    assert f"frame {len(wanted)}/{len(wanted)}" in proc.stderr and "upload" not in proc.stderr

    first_pixels, first_frame, last_pixels = replayed(probed_run, wanted.tolist(), tmp_path / "replay")
    assert len(np.unique(first_pixels.reshape(-1, 4), axis=0)) > 8  # a picture, not a blank
    assert np.array_equal(frames[0], first_frame), "the first frame differs from its step replayed"
    shot = np.asarray(Image.open(png).convert("RGBA"))
    differ = np.count_nonzero(np.any(shot != last_pixels, axis=-1))
    assert differ == 0, f"{differ} pixels of the screenshot differ from the replay played to step {wanted[-1]}"
    assert Image.open(png).text["gpuviz:step"] == str(wanted[-1])

    rows = read_metrics_csv(csv)["train_loss"]
    assert list(rows["last_step"]) == [s for s in range(first, last + 1) if s in set(steps.tolist())]
    assert part_files(tmp_path) == []


def test_every_k_keeps_the_first_stored_frame_of_each_k_steps(run_gpuviz, probed_run, tmp_path):
    out = tmp_path / "w.gif"
    proc = run_gpuviz("record", "--from-run", probed_run, "--view", "weights", "--every", "4", "--size",
                      f"{SIZE[0]}x{SIZE[1]}", "--out", str(out), display=False)
    assert proc.returncode == 0, proc.stderr
    from gpuviz_app.export.stored_record import chosen_steps

    assert len(decode_video(out)[0]) == len(chosen_steps(stored_steps(probed_run), every=4))


def refused(capsys, *argv) -> str:
    from gpuviz_app.cli import main

    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_what_is_not_a_run_is_refused_in_one_sentence(capsys, tmp_path, probed_run):
    out = tmp_path / "v.mp4"
    folder = tmp_path / "images"
    folder.mkdir()
    assert refused(capsys, "record", "--from-run", str(folder), "--out", str(out)) == \
        f"error: {folder}: not a gpuviz run (it holds no run.sqlite)"
    assert refused(capsys, "record", "--from-run", str(tmp_path / "missing"), "--out", str(out)) == \
        f"error: {tmp_path / 'missing'}: no such file or directory"
    last = int(stored_steps(probed_run)[-1])
    assert refused(capsys, "record", "--from-run", probed_run, "--steps", f"{last + 1}:", "--out", str(out)) == \
        f"error: {probed_run}: no step was stored in --steps {last + 1}: (it holds steps 1 to {last})"
    assert refused(capsys, "export", str(folder), "--out", str(tmp_path / "m.csv")) == \
        f"error: {folder}: not a gpuviz run (it holds no run.sqlite)"
    assert not out.exists() and not (tmp_path / "m.csv").exists()


def test_outputs_are_checked_before_the_run_is_read(capsys, tmp_path, probed_run):
    out = tmp_path / "v.mp4"
    out.write_bytes(b"precious")
    assert refused(capsys, "record", "--from-run", str(tmp_path / "missing"), "--out", str(out)) == \
        f"error: {out}: already exists (use --force to overwrite)"
    csv = tmp_path / "m.csv"
    csv.write_text("precious")
    assert refused(capsys, "export", probed_run, "--out", str(csv)) == \
        f"error: {csv}: already exists (use --force to overwrite)"
    assert out.read_bytes() == b"precious" and csv.read_text() == "precious"


@pytest.mark.parametrize("argv, sentence", [
    (["--steps", "5"], "--steps expects a range of steps A:B, like 100:500 (either end may be left out), not '5'"),
    (["--steps", "9:3"], "--steps 9:3: the first step comes after the last"),
    (["--steps=-2:3"], "--steps -2:3: steps are counted from 0"),
    (["--model", "cnn"], "--model applies only when training; with --from-run nothing is trained"),
    (["data.csv"], "the dataset data.csv applies only when training; with --from-run nothing is trained"),
])
def test_record_from_run_refuses_bad_options_with_a_usage_error(capsys, argv, sentence):
    from gpuviz_app.cli import record_options

    with pytest.raises(SystemExit) as exited:
        record_options(["--from-run", "RUN", "--out", "v.mp4", *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: gpuviz record") and f"gpuviz record: error: {sentence}" in err


def test_export_command_writes_the_stored_rows_in_the_range(run_gpuviz, probed_run, tmp_path):
    out = tmp_path / "m.parquet"
    proc = run_gpuviz("export", probed_run, "--out", str(out), "--steps", ":3", display=False)
    assert proc.returncode == 0, proc.stderr
    import pyarrow.parquet as pq

    from gpuviz_app.store.reader import open_run

    reader = open_run(probed_run)
    stored = reader.rows()["train_loss"]
    reader.close()
    table = pq.read_table(out)
    kept = stored[stored[:, 0] <= 3]
    assert table.column("first_step").to_pylist() == kept[:, 0].astype(int).tolist()
    assert table.column("mean").to_numpy().tobytes() == kept[:, 1].tobytes()
    assert table.schema.metadata[b"gpuviz:run"] == b"probed"
