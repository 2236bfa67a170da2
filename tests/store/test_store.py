"""The run store keeps every payload exactly as offered, reads it back at any step, and opens
damaged stores up to their last good record with a warning."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading

import numpy as np
import pytest

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.store import codec
from gpuviz_app.store.reader import StoreError, open_run
from gpuviz_app.store.writer import RunWriter
from tests.store.probed_run import VIEWS, expected_at, probed_snapshots, same

STEPS = 12


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A store of 12 steps of a small CNN with every probe, payloads recomputed every 3 steps, a
    keyframe every 3 versions (so reads cross keyframes and deltas); and what was offered."""
    path = str(tmp_path_factory.mktemp("store") / "run.sqlite")
    writer = RunWriter(path, keyframe_every=3)
    snapshots = []
    for snapshot in probed_snapshots(STEPS, probe_every=3):
        snapshots.append(snapshot)
        assert writer.offer(snapshot)
    writer.close()
    assert writer.error == "" and writer.dropped == 0
    return path, snapshots


def check_step(run, snapshots, step) -> None:
    shown, want = run.snapshot_at(step), expected_at(snapshots, step)
    assert shown.step == step
    assert set(shown.parts) == set(VIEWS)
    for view in VIEWS:
        assert shown.version(view) == want.version(view)
        same(want.parts[view], shown.parts[view], view)
    rows = want.metrics.rows("train_loss")
    upto = rows[rows["last_step"] <= step]
    assert shown.metrics.rows("train_loss")["mean"].tolist() == upto["mean"].tolist()
    assert shown.latest == want.latest and shown.dataset == "random" and shown.model == "small"


def test_every_payload_reads_back_exactly_at_and_after_its_step_in_any_order(stored):
    path, snapshots = stored
    run = open_run(path)
    assert run.warnings == []
    assert run.steps().tolist() == list(range(1, STEPS + 1))
    for step in [1, 2, 3, 4, 7, 8, 9, 10, 12, 5, 1, 11, 6]:  # forward (one delta each), then back and forth
        check_step(run, snapshots, step)
    summary = run.summary
    assert summary.steps == STEPS and summary.final_loss == snapshots[-1].latest["train_loss"]
    with pytest.raises(KeyError):
        run.snapshot_at(0)


def test_long_delta_chains_read_back_exactly_and_leave_earlier_reads_untouched(tmp_path):
    """A jump rebuilds a payload from its keyframe through many deltas applied to one copy in place;
    what an earlier read returned (and the reader keeps) must not change."""
    path = str(tmp_path / "run.sqlite")
    writer = RunWriter(path, keyframe_every=16)
    snapshots = list(probed_snapshots(STEPS, probe_every=1))
    for snapshot in snapshots:
        assert writer.offer(snapshot)
    writer.close()
    run = open_run(path)
    last = run.snapshot_at(STEPS)  # a chain of 11 deltas from the keyframe
    kept = {view: last.parts[view] for view in VIEWS}
    for step in [1, 6, STEPS, 3, 11, 2, 9, 4]:
        check_step(run, snapshots, step)
    want = expected_at(snapshots, STEPS)
    for view in VIEWS:
        same(want.parts[view], kept[view], view)


def test_payloads_are_stored_once_per_version_with_deltas_between_keyframes(stored):
    path, snapshots = stored
    db = sqlite3.connect(path)
    rows = db.execute("SELECT view, version, base FROM records WHERE kind = ? ORDER BY id", (codec.PAYLOAD,)).fetchall()
    db.close()
    for view in VIEWS:
        mine = [(version, base) for v, version, base in rows if v == view]
        assert [version for version, _ in mine] == sorted({s.version(view) for s in snapshots})
        assert not mine[0][1] and max(_chains([base for _, base in mine])) < 3  # (keyframe_every=3)


def _chains(bases):
    """The length of each run of deltas (records with a base) between keyframes."""
    runs = [0]
    for base in bases[1:]:
        runs[-1:] = [runs[-1] + 1] if base else [runs[-1], 0]
    return runs


def test_a_keyframe_comes_early_when_the_deltas_would_outweigh_it(tmp_path):
    path = str(tmp_path / "run.sqlite")
    writer = RunWriter(path, keyframe_every=4)
    history, rng = MetricsHistory(), np.random.default_rng(0)
    for step in range(1, 9):
        parts = {"noise": {"a": rng.random(4096).astype(np.float32)},  # all of it new at every version
                 "grows": {"a": np.arange(4096 + step, dtype=np.float32)}}  # one element more
        writer.offer(Snapshot(run_id=1, step=step, wall_time=float(step), metrics=history, latest={},
                              parts=parts, versions={"noise": step, "grows": step}))
    writer.close()
    db = sqlite3.connect(path)
    bases = {view: [bool(b) for (b,) in db.execute(
        "SELECT base FROM records WHERE kind = ? AND view = ? ORDER BY id", (codec.PAYLOAD, view))]
        for view in ("noise", "grows")}
    db.close()
    assert bases["noise"] == [False, True] * 4
    assert bases["grows"] == [False, True, True, True] * 2
    run = open_run(path)
    assert run.snapshot_at(7).parts["grows"]["a"].tolist() == list(range(4096 + 7))


def damaged_copy(path, tmp_path, change) -> str:
    copy = str(tmp_path / "damaged.sqlite")
    shutil.copyfile(path, copy)
    change(copy)
    return copy


def test_a_truncated_store_opens_up_to_its_last_good_record_with_a_warning(stored, tmp_path):
    path, snapshots = stored
    copy = damaged_copy(path, tmp_path, lambda p: os.truncate(p, int(os.path.getsize(p) * 0.6)))
    run = open_run(copy)
    assert run.warnings and "damaged" in run.warnings[0]
    kept = run.steps().tolist()
    assert kept == list(range(1, len(kept) + 1)) and 0 < len(kept) < STEPS
    check_step(run, snapshots, kept[-1])


def test_a_flipped_bit_ends_the_run_before_its_record_with_a_warning(stored, tmp_path):
    path, snapshots = stored
    db = sqlite3.connect(path)
    rid, step, data = db.execute("SELECT id, step, data FROM records WHERE kind = ? AND view = 'weights' "
                                 "ORDER BY id LIMIT 1 OFFSET 2", (codec.PAYLOAD,)).fetchone()
    db.close()
    piece = data[len(data) // 2: len(data) // 2 + 48]

    def flip(p):
        with open(p, "r+b") as f:
            content = f.read()
            at = content.index(piece) + 20  # (the blob's bytes lie in the file as stored)
            f.seek(at)
            f.write(bytes([content[at] ^ 0x10]))

    run = open_run(damaged_copy(path, tmp_path, flip))
    assert run.warnings and f"record {rid} fails its checksum" in run.warnings[0]
    kept = run.steps().tolist()
    assert kept == list(range(1, step))  # the snapshot of that step comes after its payloads
    check_step(run, snapshots, kept[-1])


def test_a_store_of_another_format_or_not_a_store_is_refused_in_one_sentence(stored, tmp_path):
    path, _ = stored
    other = damaged_copy(path, tmp_path, lambda p: sqlite3.connect(p).execute("PRAGMA user_version=99"))
    with pytest.raises(StoreError, match=r"format 99, which this gpuviz cannot read \(it reads format 1\)"):
        open_run(other)
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all " * 100)
    with pytest.raises(StoreError, match="notes.txt is not a gpuviz run store"):
        open_run(str(text))
    foreign = tmp_path / "other.sqlite"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="other.sqlite is not a gpuviz run store"):
        open_run(str(foreign))
    with pytest.raises(StoreError, match="holds no run.sqlite"):
        open_run(str(tmp_path))


class HeldEvent:
    """A CUDA event stand-in whose `synchronize` holds the writer's thread until released."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def synchronize(self) -> None:
        self.entered.set()
        assert self.release.wait(30)


def test_a_full_queue_drops_and_counts_without_blocking_and_the_count_is_stored(tmp_path):
    path = str(tmp_path / "run.sqlite")
    writer = RunWriter(path, queue_size=4)
    history = MetricsHistory()
    held = HeldEvent()

    def snapshot(step, event=None):
        history.append("train_loss", np.array([step]), np.array([1.0 / step]))
        return Snapshot(run_id=1, step=step, wall_time=float(step), metrics=history, latest={}, event=event)

    assert writer.offer(snapshot(1, held))
    assert held.entered.wait(30)  # the thread is inside the first snapshot
    assert [writer.offer(snapshot(s)) for s in range(2, 10)] == [True] * 4 + [False] * 4
    assert writer.dropped == 4
    held.release.set()
    writer.close()
    run = open_run(path)
    assert run.dropped["snapshots"] == 4
    assert any("4 snapshots" in w for w in run.warnings)
    assert run.steps().tolist() == [1, 2, 3, 4, 5]
    # the metric rows of the dropped snapshots were kept all the same
    assert run.rows()["train_loss"][:, 0].tolist() == list(range(1, 10))


def test_rows_are_written_once_when_snapshots_bring_another_history_holding_them(tmp_path):
    path = str(tmp_path / "run.sqlite")
    writer = RunWriter(path)
    for step in range(1, 6):
        history = MetricsHistory()  # (a reader's copy of the run's rows, made anew for each snapshot)
        history.append("train_loss", np.arange(1, step + 1), 1.0 / np.arange(1, step + 1))
        writer.offer(Snapshot(run_id=1, step=step, wall_time=float(step), metrics=history, latest={}))
    writer.close()
    run = open_run(path)
    assert run.rows()["train_loss"][:, 0].tolist() == [1, 2, 3, 4, 5]
    assert run.snapshot_at(3).metrics.total("train_loss") == 3


@pytest.mark.parametrize("before, after", [
    (np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.arange(24, dtype=np.float32).reshape(2, 3, 4)),  # same
    (np.zeros((2, 3, 4), np.float32), np.pad(np.ones((2, 3, 4), np.float32), ((0, 0), (0, 2), (0, 0)))),  # grew
    (np.ones((4, 5), np.int64), np.ones((3, 7), np.int64) * 3),  # shrank one way, grew the other
    (np.ones((6, 6), np.float64), np.where(np.eye(6) > 0, 7.0, 1.0)),  # changed in part
    (np.array(1.5, np.float32), np.array(2.5, np.float32)),  # 0-dim
    (np.zeros((0, 3), np.uint8), np.zeros((2, 3), np.uint8)),  # from empty
    (np.zeros(5, np.int32), np.zeros((5, 1), np.int32)),  # other number of dimensions: kept whole
])
def test_a_delta_against_the_previous_version_rebuilds_the_array_bit_for_bit(before, after):
    first, data, previous = codec.encode_payload({"a": before}, None)
    base = codec.decode_arrays(codec.parse_header(first), data, None)
    header, data, _ = codec.encode_payload({"a": after}, previous)
    (array,) = codec.decode_arrays(codec.parse_header(header), data, base)
    assert array.dtype == after.dtype and array.shape == after.shape and array.tobytes() == after.tobytes()


@pytest.mark.parametrize("shape, changed, dtype", [
    ((50,), (slice(7, 9),), np.float32),
    ((8, 9, 10), (slice(2, 3), slice(4, 7), slice(0, 10)), np.float16),
    ((30, 40), (slice(29, 30), slice(0, 1)), np.int64),
    ((6, 6), (slice(0, 6), slice(0, 6)), np.uint8),  # all of it
])
def test_a_delta_keeps_only_the_smallest_box_holding_what_changed(shape, changed, dtype):
    before = np.zeros(shape, dtype)
    after = before.copy()
    after[changed] = 1
    _, _, previous = codec.encode_payload({"a": before}, None)
    header, _, _ = codec.encode_payload({"a": after}, previous)
    (spec,) = codec.parse_header(header)["arrays"]
    assert spec[2] == "x" and spec[5] == [[s.start, s.stop] for s in changed]


def test_the_trainer_settings_are_read_back_as_they_were_at_each_step(tmp_path):
    from gpuviz_app.core.config import TrainConfig

    path = str(tmp_path / "run.sqlite")
    writer = RunWriter(path)
    history = MetricsHistory()
    configs = [TrainConfig(), TrainConfig(), TrainConfig(lr=0.01, optimizer="sgd"), TrainConfig(lr=0.01, optimizer="sgd")]
    for step, config in enumerate(configs, 1):
        writer.offer(Snapshot(run_id=1, step=step, wall_time=float(step), metrics=history, latest={}, config=config))
    writer.offer(Snapshot(run_id=1, step=5, wall_time=5.0, metrics=history, latest={}))  # a source without settings
    writer.close()
    run = open_run(path)
    assert [run.snapshot_at(s).config for s in range(1, 6)] == configs + [None]


@pytest.mark.gpu
def test_payloads_on_the_gpu_are_stored_exactly_after_their_event(tmp_path):
    path = str(tmp_path / "run.sqlite")
    writer = RunWriter(path, keyframe_every=3)
    snapshots = []
    for snapshot in probed_snapshots(8, probe_every=2, device="cuda"):
        snapshots.append(snapshot)
        assert writer.offer(snapshot)
    writer.close()
    assert writer.error == ""
    run = open_run(path)
    for step in (1, 4, 5, 8):
        shown, want = run.snapshot_at(step), expected_at(snapshots, step)
        for view in VIEWS:
            same(want.parts[view], shown.parts[view], view)
