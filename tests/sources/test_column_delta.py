"""Weights payloads sent as their new columns: the window puts back exactly the payload a whole
message would give, across column merges, through a real sender and listener, and a tail that
does not extend the payload held is not applied."""

import shutil
import tempfile

import numpy as np
import pytest
import torch
from torch import nn

import gpuviz_app as gv
from gpuviz_app.core.attached_run import build_context, hosting
from gpuviz_app.core.probes.weights.probe import WeightsProbe
from gpuviz_app.sources import sender as sender_module
from gpuviz_app.sources import wire
from gpuviz_app.sources.column_delta import ColumnsSent, splice, tail, unchanged_columns
from gpuviz_app.sources.remote import Listener, RemoteRun
from gpuviz_app.sources.sender import RemoteSender
from gpuviz_app.sources.wire import Encoder, decode
from tests.sources.test_wire import RUN, SmallCNN, same

WAIT_S = 120.0


def send(payload, version: int, deltas=None, seq: int = 1):
    frames = Encoder().encode(RUN, seq, {"step": seq}, {}, {"weights": version}, {"weights": payload}, {},
                              deltas=deltas)
    return decode([bytes(f) for f in frames])


def training(capacity: int, steps: int):
    """The weights probe's payload after each step of a small CNN (columns merge every `capacity`)."""
    torch.manual_seed(0)
    model = SmallCNN()
    x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 3, (16,))
    step = [0]
    context = build_context(model, (x, y), nn.CrossEntropyLoss(), "tiny", step_source=lambda: step[0])
    probe = WeightsProbe(context, capacity=capacity)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step[0] += 1
        context.hooks.run(context)
        yield probe(context)
    probe.close()


def test_tails_spliced_onto_the_held_payload_equal_each_whole_payload_across_merges():
    held, sent, tails, wholes = None, None, 0, 0
    for version, payload in enumerate(training(capacity=4, steps=10), start=1):
        k = unchanged_columns(sent, payload)
        if k:
            message = send(tail(payload, k), version, {"weights": (k, sent.version)})
            assert message.deltas == {"weights": (k, sent.version)}
            assert message.parts["weights"].counts.shape[1] == payload.columns - k  # only the new columns crossed
            held = splice(held, message.parts["weights"], k)
            tails += 1
        else:
            held = send(payload, version).parts["weights"]
            wholes += 1
        same(payload, held)
        sent = ColumnsSent.of(payload, version)
    assert tails >= 5 and wholes >= 3  # the first ones, and after each merge (steps 5 and 9)


def test_a_tail_of_a_payload_the_window_does_not_hold_leaves_the_held_one():
    payloads = list(training(capacity=64, steps=4))
    run = RemoteRun(RUN, 1)
    run.apply(send(payloads[1], 2))
    stale = ColumnsSent.of(payloads[2], 3)  # a version the window never got
    k = unchanged_columns(stale, payloads[3])
    assert k == 2
    snapshot = run.apply(send(tail(payloads[3], k), 4, {"weights": (k, 3)}, seq=2))
    same(payloads[1], snapshot.parts["weights"])
    assert snapshot.versions["weights"] == 2
    k = unchanged_columns(ColumnsSent.of(payloads[1], 2), payloads[3])
    assert k == 1
    snapshot = run.apply(send(tail(payloads[3], k), 4, {"weights": (k, 2)}, seq=3))
    same(payloads[3], snapshot.parts["weights"])
    assert snapshot.versions["weights"] == 4


def test_a_deltas_entry_naming_no_part_is_refused():
    payload = next(training(capacity=8, steps=1))
    frames = Encoder().encode(RUN, 1, {"step": 1}, {}, {"weights": 1}, {"weights": payload}, {},
                              deltas={"embedding": (1, 1)})
    with pytest.raises(wire.BadMessage, match="deltas"):
        decode([bytes(f) for f in frames])


@pytest.fixture
def address():
    folder = tempfile.mkdtemp(prefix="gv")  # short: a Unix socket path has a length limit
    yield f"ipc://{folder}/w.sock"
    shutil.rmtree(folder, ignore_errors=True)


def test_through_a_sender_and_a_listener_the_window_holds_each_payload_the_script_made(address, monkeypatch):
    monkeypatch.setattr(sender_module, "MESSAGE_SHARE", 1.0)  # a message at every step
    monkeypatch.setattr(sender_module, "PROBE_SHARE", 1.0)  # a payload in each
    made: dict[int, object] = {}  # version -> the payload the script made, as numpy
    deltas_sent = []
    encode = Encoder.encode

    def recording_encode(self, *args, **kwargs):
        deltas_sent.append(bool(kwargs.get("deltas")))
        return encode(self, *args, **kwargs)

    monkeypatch.setattr(Encoder, "encode", recording_encode)
    held: list[tuple[int, object]] = []
    listener = Listener(address, shown=("weights",),
                        on_message=lambda run: held.append((run.latest.versions.get("weights"),
                                                            run.latest.parts.get("weights"))))
    sender = RemoteSender(address, views=("weights",), publish_hz=1e9)
    collect = sender.probe_host.collect

    def recording_collect(context):
        ran = collect(context)
        if "weights" in sender.probe_host.parts:
            made[sender.probe_host.versions["weights"]] = sender.probe_host.parts["weights"]
        return ran

    sender.probe_host.collect = recording_collect
    torch.manual_seed(0)
    model = SmallCNN()
    x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 3, (16,))
    try:
        with hosting(sender):
            viz = gv.attach(model, loss_fn=nn.CrossEntropyLoss(), sample=(x, y))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(12):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            viz.step(loss=loss)
        viz.close()
        assert listener.wait_for(lambda lis: bool(lis.runs()) and lis.runs()[0].finished, WAIT_S)
    finally:
        sender.close()
        listener.close()
    assert any(deltas_sent)  # some payloads crossed as tails
    checked = 0
    for version, payload in held:
        if payload is not None:
            same(made[version], payload)
            checked += 1
    assert checked >= 5
    assert np.array_equal(held[-1][1].column_steps[-1], [12, 12])
