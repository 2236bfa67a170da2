"""TensorBoard logs written by `SummaryWriter` import with the same scalars and histogram counts;
damaged event files import as far as they are readable, with warnings; anything else is refused
with one sentence naming the path."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("tensorboard")

from gpuviz_app.store.tensorboard import LogdirError, import_logdir  # noqa: E402
from gpuviz_app.store.tensorboard_events import event_files, read_events  # noqa: E402
from gpuviz_app.store.tensorboard_histograms import LoggedHistograms, pair_gradients  # noqa: E402

STEPS = 12
BINS = 16


def train_and_log(logdir, steps: int = STEPS, first: int = 0, every: int = 1, grad_bins="tensorflow"):
    """A small model trained for `steps` steps; returns what was logged (values at each step)."""
    from torch.utils.tensorboard import SummaryWriter

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    logged = {"loss": {}, "eval/accuracy": {}, "hist": {}, "grad": {}}
    with SummaryWriter(str(logdir)) as writer:
        for i in range(steps):
            step = first + i * every
            model.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            with torch.no_grad():  # plain SGD (torch.optim's first step imports torch._dynamo: seconds)
                for p in model.parameters():
                    p -= 0.1 * p.grad
            writer.add_scalar("loss", loss.item(), step)
            logged["loss"][step] = loss.item()
            if i % 3 == 0:
                acc = (model(x).argmax(1) == y).float().mean().item()
                writer.add_scalar("eval/accuracy", acc, step)
                logged["eval/accuracy"][step] = acc
            for name, p in model.named_parameters():
                w = p.detach().numpy().ravel().copy()
                writer.add_histogram(name, w, step, bins=BINS)  # uniform buckets
                # SummaryWriter's default: TensorFlow-style, uneven buckets
                writer.add_histogram(f"{name}.grad", p.grad.numpy().ravel().copy(), step, bins=grad_bins)
                logged["hist"][(name, step)] = w
                logged["grad"][(name, step)] = p.grad.numpy().ravel().copy()
    names = [n for n, _ in model.named_parameters()]
    return logged, names


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("tb")
    values, names = train_and_log(logdir)
    return logdir, values, names


def test_scalars_import_with_their_names_and_values(logged):
    logdir, values, _ = logged
    frames = import_logdir(logdir)
    assert frames.warnings == []
    assert list(frames.steps()) == list(range(STEPS))
    snap = frames.snapshot_at(STEPS - 1)
    assert set(snap.metrics.names) == {"loss", "eval/accuracy"}
    for name in ("loss", "eval/accuracy"):
        steps = sorted(values[name])
        expected = np.float32([values[name][s] for s in steps])  # a scalar event holds a float32
        np.testing.assert_array_equal(frames.rows[name][:, 0], steps)
        np.testing.assert_array_equal(frames.rows[name][:, 1], expected)
        assert snap.latest[name] == expected[-1]
    assert frames.summary.final_loss == np.float32(values["loss"][STEPS - 1])
    assert frames.summary.steps == STEPS - 1 and frames.summary.size_bytes > 0
    assert frames.summary.path == str(logdir) and frames.summary.name == logdir.name
    # an earlier step holds only what was logged up to it
    mid = frames.snapshot_at(4)
    assert mid.metrics.rows("loss")["last_step"].max() == 4
    assert mid.latest["eval/accuracy"] == np.float32(values["eval/accuracy"][3])


@pytest.mark.parametrize("chunk", [2048, 5])  # a tag's histograms gathered all at once, or a few at a time
def test_histograms_keep_every_steps_counts_and_uniform_buckets(logged, chunk, monkeypatch):
    from gpuviz_app.store import tensorboard_events

    logdir, values, names = logged
    monkeypatch.setattr(tensorboard_events, "CHUNK", chunk)
    frames = import_logdir(logdir)
    payload = frames.snapshot_at(STEPS - 1).parts["weights"]
    layers = len(names)
    assert [layer["name"] for layer in payload.layers] == names
    assert [layer["gradient"] for layer in payload.layers] == [f"{n}.grad" for n in names]
    assert payload.counts.shape == (2 * layers, STEPS, 256) and payload.stride == 1
    np.testing.assert_array_equal(payload.column_steps, np.c_[np.arange(STEPS), np.arange(STEPS)])
    np.testing.assert_array_equal(payload.tracked, np.ones(STEPS))
    for layer, name in enumerate(names):
        for step in range(STEPS):
            w, g = values["hist"][(name, step)], values["grad"][(name, step)]
            counts, edges = np.histogram(w, bins=BINS)
            got = payload.counts[layer, step]
            first, width, inv_peak, total = payload.grid[layer, step]
            assert total == w.size and got.sum() == w.size
            np.testing.assert_array_equal(got[:BINS], counts)  # the logged buckets, bin for bin
            assert not got[BINS:].any()
            assert first == np.float32(edges[0]) and np.isclose(width, edges[1] - edges[0], rtol=1e-5)
            assert inv_peak == np.float32(1.0 / counts.max())
            np.testing.assert_allclose(payload.extent[layer, step], [w.min(), w.max()], rtol=1e-6)
            # gradients: TensorFlow-style (uneven) buckets moved onto 256 bins, every value kept
            assert payload.grid[layers + layer, step, 3] == g.size == payload.counts[layers + layer, step].sum()
    # what the log does not hold is NaN, so the view says "not recorded" instead of drawing zeros
    assert np.isnan(payload.health).all() and np.isnan(payload.latest).all()
    assert payload.matrices == {} and payload.filters == {}


def test_an_earlier_step_shows_the_columns_logged_until_then(logged):
    logdir, _, _ = logged
    frames = import_logdir(logdir)
    last = frames.snapshot_at(STEPS - 1).parts["weights"]
    mid = frames.snapshot_at(5)
    payload = mid.parts["weights"]
    assert payload.step == 5 and payload.columns == 6
    np.testing.assert_array_equal(payload.counts, last.counts[:, :6])
    assert mid.version("weights") < frames.snapshot_at(STEPS - 1).version("weights")


def test_more_steps_than_columns_merge_like_the_live_columns(tmp_path, monkeypatch):
    from gpuviz_app.store import tensorboard_events

    values, names = train_and_log(tmp_path, steps=20, first=100, every=10, grad_bins=BINS)
    monkeypatch.setattr(tensorboard_events, "CHUNK", 3)  # histograms gathered a few at a time, as in long logs
    events = read_events(event_files(str(tmp_path)))
    hists = LoggedHistograms(events.histograms, capacity=4)
    assert hists.interval == 10  # logged every 10 steps: one position per log
    # 20 logs into 4 columns: the stride doubles until they fit (8 logs, 80 steps, a column)
    payload = hists.payload_at(10_000)
    assert payload.stride == 80 and payload.columns == 3
    np.testing.assert_array_equal(payload.column_steps, [[100, 179], [180, 259], [260, 290]])
    np.testing.assert_array_equal(payload.tracked, [8, 8, 4])
    for layer, name in enumerate(names):
        sizes = [values["hist"][(name, 100 + 10 * i)].size for i in range(20)]
        np.testing.assert_array_equal(payload.grid[layer, :, 3], [sum(sizes[:8]), sum(sizes[8:16]), sum(sizes[16:])])
        np.testing.assert_array_equal(payload.counts[layer].sum(1), payload.grid[layer, :, 3])
    # at an earlier step, fewer logs: a narrower stride, and the last column holds only the logs until then
    early = hists.payload_at(205)  # 11 logs: 100 .. 200
    assert early.stride == 40 and early.columns == 3
    np.testing.assert_array_equal(early.tracked, [4, 4, 3])
    np.testing.assert_array_equal(early.grid[0, :, 3], np.array([4, 4, 3]) * values["hist"][(names[0], 100)].size)
    again = hists.payload_at(225)  # 13 logs: the third column filled up
    np.testing.assert_array_equal(again.tracked, [4, 4, 4, 1])
    np.testing.assert_array_equal(again.counts[:, :2], early.counts[:, :2])


def test_gradient_tags_pair_with_their_values():
    tags = ["a.weight", "a.weight.grad", "grad/b", "b", "gradients/c", "loose_grad"]
    assert pair_gradients(tags) == [("a.weight", "a.weight.grad"), ("b", "grad/b"), ("gradients/c", None),
                                   ("loose_grad", None)]


def test_a_resumed_run_replaces_the_steps_logged_again(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "first")) as w:
        for step in range(6):
            w.add_scalar("loss", 1.0, step)
    with SummaryWriter(str(tmp_path / "first")) as w:  # a second file, resumed from step 3
        for step in range(3, 8):
            w.add_scalar("loss", 2.0, step)
    frames = import_logdir(tmp_path)
    rows = frames.rows["first/loss"]  # a run in a subfolder: its tags are prefixed
    np.testing.assert_array_equal(rows[:, 0], range(8))
    np.testing.assert_array_equal(rows[:, 1], [1.0] * 3 + [2.0] * 5)
    assert any("replaced" in w for w in frames.warnings)


def _only_event_file(logdir) -> str:
    files = event_files(str(logdir))
    assert len(files) == 1
    return files[0][0]


def test_a_truncated_file_imports_what_is_readable_with_a_warning(logged, tmp_path):
    logdir, values, _ = logged
    source = _only_event_file(logdir)
    target = tmp_path / os.path.basename(source)
    data = open(source, "rb").read()
    target.write_bytes(data[: len(data) * 2 // 3 + 7])  # cut inside a record
    frames = import_logdir(tmp_path)
    assert len(frames.warnings) == 1 and "truncated" in frames.warnings[0]
    assert str(target) in frames.warnings[0]
    rows = frames.rows["loss"]
    assert 0 < len(rows) < STEPS
    np.testing.assert_array_equal(rows[:, 1], np.float32([values["loss"][int(s)] for s in rows[:, 0]]))


def _records(data: bytes) -> list[tuple[int, int]]:
    """(offset, data length) of each record."""
    out, at = [], 0
    while at < len(data):
        length = int.from_bytes(data[at : at + 8], "little")
        out.append((at, length))
        at += 16 + length
    return out


def test_flipped_bits_lose_only_the_damaged_records(logged, tmp_path):
    logdir, values, names = logged
    data = bytearray(open(_only_event_file(logdir), "rb").read())
    records = _records(bytes(data))
    # one bit in a record's data (a histogram), one in a later record's length field
    hit_data, hit_length = records[len(records) // 3], records[2 * len(records) // 3]
    data[hit_data[0] + 12 + hit_data[1] // 2] ^= 0x10
    data[hit_length[0] + 1] ^= 0x01
    (tmp_path / "events.out.tfevents.damaged").write_bytes(bytes(data))
    frames = import_logdir(tmp_path)
    text = " ".join(frames.warnings)
    assert "1 record(s) failed their checksum" in text
    assert f"corrupt record length at byte {hit_length[0]}" in text
    # everything else is there, with the logged values
    rows = frames.rows["loss"]
    assert len(rows) >= STEPS - 2
    np.testing.assert_array_equal(rows[:, 1], np.float32([values["loss"][int(s)] for s in rows[:, 0]]))
    payload = frames.snapshot_at(STEPS - 1).parts["weights"]
    totals = payload.grid[: len(names), :, 3]
    sizes = np.array([values["hist"][(n, 0)].size for n in names])
    lost = totals != sizes[:, None]
    assert 0 < lost.sum() <= 2 and (totals[lost] == 0).all()  # only the damaged histograms are missing


def test_version_two_summaries_import_too(tmp_path):
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.plugins.histogram import summary_v2 as histogram_v2
    from tensorboard.plugins.scalar import summary_v2 as scalar_v2

    from gpuviz_app.store.tensorboard_records import masked
    import google_crc32c

    data = np.random.default_rng(0).normal(size=500)
    with open(tmp_path / "events.out.tfevents.v2", "wb") as f:
        for step in range(3):
            for summary in (scalar_v2.scalar_pb("loss", 0.5 * step), histogram_v2.histogram_pb("w", data * (step + 1))):
                record = Event(step=step, wall_time=1.0, summary=summary).SerializeToString()
                head = len(record).to_bytes(8, "little")
                f.write(head + masked(google_crc32c.value(head)).to_bytes(4, "little") + record
                        + masked(google_crc32c.value(record)).to_bytes(4, "little"))
    frames = import_logdir(tmp_path)
    np.testing.assert_array_equal(frames.rows["loss"][:, 1], [0.0, 0.5, 1.0])
    payload = frames.snapshot_at(2).parts["weights"]
    np.testing.assert_array_equal(payload.grid[0, :, 3], [500, 500, 500])


def test_what_is_not_a_log_is_refused_with_one_sentence(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    garbage = tmp_path / "bad" / "events.out.tfevents.1"
    garbage.parent.mkdir()
    garbage.write_bytes(os.urandom(300))
    for path, words in ((empty, "not a TensorBoard log directory"), (tmp_path / "missing", "no such file"),
                        (text, "not a TensorBoard event file"), (garbage.parent, "no readable scalars")):
        with pytest.raises(LogdirError) as caught:
            import_logdir(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: ") and words in message and "\n" not in message


def test_the_extra_is_named_when_tensorboard_is_missing(tmp_path, monkeypatch):
    import sys

    shutil.copy(__file__, tmp_path / "events.out.tfevents.x")
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto.event_pb2", None)
    with pytest.raises(LogdirError, match=r"pip install 'gpuviz-app\[tensorboard\]'"):
        import_logdir(tmp_path)


def test_the_search_for_an_intact_record_is_bounded(logged, tmp_path, monkeypatch):
    from gpuviz_app.store import tensorboard_records

    logdir, values, _ = logged
    data = bytearray(open(_only_event_file(logdir), "rb").read())
    records = _records(bytes(data))
    hit = records[len(records) // 2]
    data[hit[0]] ^= 0x01
    (tmp_path / "events.out.tfevents.damaged").write_bytes(bytes(data))
    monkeypatch.setattr(tensorboard_records, "MAX_SCAN", 12)  # less than any record: the search gives up
    frames = import_logdir(tmp_path)
    assert any(f"corrupt record length at byte {hit[0]}; no intact record was found" in w for w in frames.warnings)
    rows = frames.rows["loss"]
    assert 0 < len(rows) < STEPS  # what came before the damage
    np.testing.assert_array_equal(rows[:, 1], np.float32([values["loss"][int(s)] for s in rows[:, 0]]))


def test_histogram_buckets_are_read_from_their_packed_fields():
    from tensorboard.compat.proto.summary_pb2 import HistogramProto

    from gpuviz_app.store.tensorboard_events import _packed_doubles

    for limits, counts in (([], []), ([1.5], [3.0]), (list(np.linspace(-1, 1, 600)), list(np.arange(600.0)))):
        h = HistogramProto(min=-1.0, max=1.0, num=5.0, sum=0.25, sum_squares=2.0, bucket_limit=limits, bucket=counts)
        got_limits, got_counts = _packed_doubles(h)
        np.testing.assert_array_equal(got_limits, limits)
        np.testing.assert_array_equal(got_counts, counts)
