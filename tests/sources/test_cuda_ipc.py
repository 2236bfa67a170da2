"""CUDA IPC without a GPU: the topics and header entries a peer sends are checked field by
field, the host path is chosen with the right reason, and the slot rings are reused, freed
when the window goes and handed out again only once the window acknowledged them."""

import json
import shutil
import tempfile

import numpy as np
import pytest
import zmq

from gpuviz_app.core.probes.landscape.payload import LandscapePayload
from gpuviz_app.sources.cuda_ipc import (
    TOPIC,
    IpcRefused,
    ack_topic,
    host_path_reason,
    machine_id,
    offer_topic,
    parse_entry,
    parse_topic,
    refusal_topic,
)
from gpuviz_app.sources.cuda_slots import IpcExporter, SlotRing
from gpuviz_app.sources.remote import Listener
from gpuviz_app.sources.wire import BadMessage, Encoder, RunInfo, decode

WAIT_MS = 60_000


# -- fakes: a CUDA tensor and its slot buffers, without CUDA ----------------------------------------
class FakeDevice:
    type = "cuda"

    def __str__(self) -> str:
        return "cuda:0"


class FakeTensor:
    def __init__(self, shape=(128, 256), dtype="torch.float32", fill=0.0):
        self.shape, self.dtype, self.device, self.fill = shape, dtype, FakeDevice(), fill

    def numel(self):
        return int(np.prod(self.shape))

    def element_size(self):
        return 4

    def detach(self):
        return self

    def cpu(self):
        raise AssertionError("a tensor sent as a handle was copied to the host")


class FakeEvent:
    def __init__(self):
        self.records = 0

    def record(self):
        self.records += 1

    def ipc_handle(self):
        return b"e" * 64


class FakeSlotTensor:
    def __init__(self):
        self.copies = []

    def copy_(self, source, non_blocking=False):
        self.copies.append(source.fill)


class FakeBuffer:
    def __init__(self, n):
        self.tensor, self.event, self.handle = FakeSlotTensor(), FakeEvent(), b"h%03d" % n + b"\0" * 62
        self.size, self.offset, self.device_uuid = 128 * 256 * 4, 512 * n, "GPU-fake"

    def write(self, value):
        self.tensor.copy_(value)
        self.event.record()

    def event_handle(self):
        return self.event.ipc_handle()


class FakeAllocator:
    def __init__(self):
        self.made, self.freed = [], []

    def __call__(self, device):
        def allocate(dtype, shape):
            self.made.append((dtype, shape))
            return FakeBuffer(len(self.made))

        return allocate

    def free(self, buffer):
        self.freed.append(buffer)


@pytest.fixture
def exporter():
    fake = FakeAllocator()
    gpu = IpcExporter("ipc:///tmp/x.sock", machine="box/boot", sender=42, allocate=fake, free=fake.free)
    gpu.fake = fake
    gpu.subscription(b"\x01" + offer_topic("w1", "box/boot"))
    return gpu


def export(gpu, seq, fill=1.0, path="landscape.grid", shape=(128, 256)):
    frames = []

    def add(array):
        frames.append(array)
        return len(frames) - 1

    return gpu.export(path, FakeTensor(shape, fill=fill), seq, add), frames


# -- topics --------------------------------------------------------------------------------------------
def test_topics_round_trip():
    assert parse_topic(offer_topic("w1", "box/boot")) == {"kind": "offer", "window": "w1", "machine": "box/boot"}
    assert parse_topic(refusal_topic("w1", 7, "no CUDA"))["reason"] == "no CUDA"
    assert parse_topic(ack_topic("w1", 7, 12))["seq"] == 12


@pytest.mark.parametrize("topic,words", [
    (b"other/1 {}", "not a gpuviz IPC topic"),
    (TOPIC + b"\xff\xfe", "not UTF-8 JSON"),
    (TOPIC + b"[1, 2]", "not a JSON object"),
    (TOPIC + json.dumps({"kind": "run", "window": "w"}).encode(), "unknown kind"),
    (TOPIC + json.dumps({"kind": "ack", "window": "w", "sender": 1}).encode(), "wrong fields"),
    (TOPIC + json.dumps({"kind": "ack", "window": "w", "sender": 1, "seq": "9"}).encode(), "seq has the wrong type"),
    (TOPIC + json.dumps({"kind": "ack", "window": "w", "sender": True, "seq": 9}).encode(), "sender has the wrong"),
    (TOPIC + json.dumps({"kind": "offer", "window": "w" * 65, "machine": "m"}).encode(), "window name is too long"),
    (TOPIC + b" " * 5000, "too long"),
])
def test_forged_topics_are_refused_with_a_sentence(topic, words):
    with pytest.raises(IpcRefused, match=words):
        parse_topic(topic)


# -- header entries ----------------------------------------------------------------------------------
def good_entry():
    arrays = [np.frombuffer(b"h" * 66, np.uint8), np.frombuffer(b"e" * 64, np.uint8)]
    entry = {"ring": 1, "slot": 0, "dtype": "float32", "shape": [4, 8], "device": "GPU-1",
             "open": {"handle": 0, "size": 128, "offset": 512, "event": 1}}
    return entry, arrays


def test_a_good_entry_is_read():
    entry, arrays = good_entry()
    got = parse_entry(entry, arrays)
    assert (got.ring, got.slot, got.shape, got.size, got.offset) == (1, 0, (4, 8), 128, 512)
    assert got.handle == b"h" * 66 and got.event == b"e" * 64
    del entry["open"]
    assert parse_entry(entry, arrays).handle is None


@pytest.mark.parametrize("change,words", [
    (lambda e: e.pop("device"), "does not have the fields"),
    (lambda e: e.update(extra=1), "does not have the fields"),
    (lambda e: e.update(ring=0), "ring is not a positive integer"),
    (lambda e: e.update(slot=-1), "slot is not a small integer"),
    (lambda e: e.update(slot=True), "slot is not a small integer"),
    (lambda e: e.update(dtype="object"), "dtype is not allowed"),
    (lambda e: e.update(shape=[4, -8]), "shape is not a list"),
    (lambda e: e.update(shape="4,8"), "shape is not a list"),
    (lambda e: e.update(device=""), "device is not a GPU's id"),
    (lambda e: e["open"].pop("event"), "open is not"),
    (lambda e: e["open"].update(handle=5), "handle names a frame that was not sent"),
    (lambda e: e["open"].update(event=0), "event handle is not 64 bytes"),
    (lambda e: e["open"].update(size=129), "size does not match"),
    (lambda e: e["open"].update(offset=-1), "offset is not a byte offset"),
])
def test_forged_entries_are_refused_with_a_sentence(change, words):
    entry, arrays = good_entry()
    change(entry)
    with pytest.raises(IpcRefused, match=words):
        parse_entry(entry, arrays)


def test_a_forged_gpu_section_makes_the_message_bad_not_a_crash(exporter):
    run = RunInfo(script="s.py", host="box", pid=1, name="", started=1.0)
    encoder = Encoder(gpu=exporter)
    frames = [bytes(f) for f in encoder.encode(run, 1, {"step": 1}, {}, {"landscape": 1},
                                               {"landscape": LandscapePayload(grid=FakeTensor(), resolution=3)}, {})]
    header = json.loads(frames[1])
    assert header["parts"]["landscape"]["f"]["grid"]["$g"] == 0
    assert header["gpu"]["entries"][0]["open"]["size"] == 128 * 256 * 4
    assert decode(frames).parts["landscape"].grid is None  # no importer: reads as None, like an unknown reference
    header["gpu"]["entries"][0]["dtype"] = "object"
    with pytest.raises(BadMessage, match="dtype is not allowed"):
        decode([frames[0], json.dumps(header).encode(), *frames[2:]])
    header["gpu"] = {"entries": [], "reason": "", "retired": ["1"]}
    with pytest.raises(BadMessage, match="retired is not a list of ring numbers"):
        decode([frames[0], json.dumps(header).encode(), *frames[2:]])


# -- choosing the host path ---------------------------------------------------------------------------
OFFER = {"kind": "offer", "window": "w", "machine": "box/boot"}


@pytest.mark.parametrize("offer,refused,address,device,words", [
    (OFFER, "", "ipc:///tmp/a", "cpu", "the tensors are on the CPU"),
    ({**OFFER, "machine": "other/boot"}, "", "ipc:///tmp/a", "cuda:0", "another machine"),
    (None, "", "ipc:///tmp/a", "cuda:0", "did not offer CUDA IPC"),
    (OFFER, "", "tcp://127.0.0.1:5555", "cuda:0", "TCP address"),
    (OFFER, "no CUDA device", "ipc:///tmp/a", "cuda:0", "cannot open CUDA IPC handles: no CUDA device"),
])
def test_the_host_path_is_chosen_with_its_reason(offer, refused, address, device, words):
    assert words in host_path_reason(offer, refused, "box/boot", address, device)


def test_ipc_is_chosen_on_the_same_machine_and_can_be_turned_off(monkeypatch):
    assert host_path_reason(OFFER, "", "box/boot", "ipc:///tmp/a", "cuda:0") == ""
    monkeypatch.setenv("GPUVIZ_IPC", "off")
    assert "GPUVIZ_IPC=off" in host_path_reason(OFFER, "", "box/boot", "ipc:///tmp/a", "cuda:0")


# -- slot rings ---------------------------------------------------------------------------------------
def test_a_ring_reuses_its_slots_and_never_hands_out_one_the_window_may_read():
    fake = FakeAllocator()
    ring = SlotRing(1, "float32", (4,), fake(None), fake.free, slots=2)
    a, b = ring.acquire(1), ring.acquire(2)
    assert a is not b and ring.acquire(3) is None  # both wait for the window
    ring.acknowledged(1)
    assert ring.acquire(3) is a
    ring.lost(3)  # message 3 never left: its slot is free again
    assert ring.acquire(4) is a
    ring.acknowledged(4)
    for seq in range(5, 50):
        assert ring.acquire(seq) is not None
        ring.acknowledged(seq)
    assert len(fake.made) == 2  # reused, never reallocated
    ring.release()
    assert len(fake.freed) == 2 and ring.slots == []


def test_handles_are_sent_once_per_slot_then_slot_and_step_only(exporter):
    first, frames = export(exporter, 1)
    assert first["open"]["size"] == 128 * 256 * 4 and len(frames) == 2
    exporter.subscription(b"\x01" + ack_topic("w1", 42, 1))
    again, frames = export(exporter, 2, fill=2.0)
    assert "open" not in again and frames == [] and again["slot"] == first["slot"]
    assert exporter.fake.made == [("float32", (128, 256))]
    buffer = exporter.rings["landscape.grid"].slots[0].buffer
    assert buffer.tensor.copies == [1.0, 2.0] and buffer.event.records == 2


def test_a_window_behind_gets_host_bytes_and_other_senders_acks_are_ignored(exporter):
    for seq in (1, 2, 3):
        assert export(exporter, seq)[0] is not None
    assert export(exporter, 4)[0] is None  # every slot waits for the window
    exporter.subscription(b"\x01" + ack_topic("w1", 99, 3))  # another sender's acknowledgement
    exporter.subscription(b"\x01" + ack_topic("w0", 42, 3))  # another window's
    assert export(exporter, 5)[0] is None
    exporter.subscription(b"\x01" + ack_topic("w1", 42, 2))
    assert export(exporter, 6)[0]["slot"] in (0, 1)


def test_the_window_is_waited_for_only_while_it_may_read_a_slot(exporter):
    assert not exporter.in_flight()
    export(exporter, 1)
    assert exporter.in_flight()
    exporter.subscription(b"\x01" + ack_topic("w1", 42, 1))
    assert not exporter.in_flight()
    export(exporter, 2)
    exporter.subscription(b"\x00" + offer_topic("w1", "box/boot"))  # the window left: nothing to wait for
    assert not exporter.in_flight() and len(exporter.fake.freed) == 1


def test_a_message_not_sent_frees_its_slot_and_sends_its_handles_again(exporter):
    export(exporter, 1)
    exporter.sent(1, ok=False)
    entry, _ = export(exporter, 2)
    assert entry["slot"] == 0 and "open" in entry


def test_a_new_shape_retires_the_ring_and_says_so(exporter):
    first, _ = export(exporter, 1)
    second, _ = export(exporter, 2, shape=(64, 256))
    assert second["ring"] != first["ring"] and len(exporter.fake.freed) == 1
    assert exporter.header()["retired"] == [first["ring"]]


def test_a_refusal_frees_the_slots_and_gives_the_reason_once(exporter, caplog):
    export(exporter, 1)
    exporter.subscription(b"\x01" + refusal_topic("w1", 42, "the window has no CUDA device"))
    assert len(exporter.fake.freed) == 1 and exporter.changed
    with caplog.at_level("INFO"):
        assert export(exporter, 2)[0] is None
        assert export(exporter, 3)[0] is None
    assert exporter.reason == "the window cannot open CUDA IPC handles: the window has no CUDA device"
    assert [r.message for r in caplog.records].count(
        "gpuviz: payloads travel as host bytes: " + exporter.reason) == 1
    assert exporter.header()["reason"] == exporter.reason


def test_small_arrays_and_a_runs_last_message_travel_as_host_bytes(exporter):
    assert export(exporter, 1, shape=(4, 4))[0] is None
    exporter.enabled = False
    assert export(exporter, 2)[0] is None
    assert exporter.fake.made == []


# -- a real window's subscriptions ----------------------------------------------------------------------
@pytest.fixture
def address():
    folder = tempfile.mkdtemp(prefix="gv")
    yield f"ipc://{folder}/w.sock"
    shutil.rmtree(folder, ignore_errors=True)


def test_a_window_offers_ipc_counts_once_and_its_going_frees_the_slots(address):
    """The listener's offer reaches a sender's XPUB socket as one extra topic (the window is
    still one subscriber); closing the window unsubscribes it and the sender frees every slot."""
    fake = FakeAllocator()
    gpu = IpcExporter(address, allocate=fake, free=fake.free)
    context = zmq.Context()
    xpub = context.socket(zmq.XPUB)
    xpub.setsockopt(zmq.XPUB_VERBOSER, 1)
    xpub.setsockopt(zmq.IMMEDIATE, 1)  # as the sender's: a window's leaving ends its pipe, so it unsubscribes
    listener = Listener(address)
    try:
        xpub.connect(address)
        windows = 0
        while gpu.offer is None or not windows:
            assert xpub.poll(WAIT_MS), "the window's subscriptions did not arrive"
            event = xpub.recv()
            if not gpu.subscription(event) and len(event) == 1:
                windows += 1
        assert windows == 1 and gpu.offer["machine"] == machine_id()
        assert export(gpu, 1)[0] is not None and len(fake.made) == 1
        listener.close()
        while gpu.offer is not None:
            assert xpub.poll(WAIT_MS), "the window's leaving did not arrive"
            gpu.subscription(xpub.recv())
        assert len(fake.freed) == 1 and gpu.rings == {}
        assert "did not offer" in gpu.why_not(FakeTensor())
    finally:
        listener.close()
        xpub.close(linger=0)
        context.term()


def test_a_tcp_window_offers_nothing():
    fake = FakeAllocator()
    gpu = IpcExporter("tcp://127.0.0.1:47999", allocate=fake, free=fake.free)
    assert "TCP address" in gpu.why_not(FakeTensor())
