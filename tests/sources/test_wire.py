"""The message format between a script in another process and a window: every payload kind
survives the trip as numpy arrays of the same values, and malformed messages are refused."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from gpuviz_app.core.attached_run import build_context
from gpuviz_app.core.probe_demand import ProbeDemand
from gpuviz_app.core.probe_host import ProbeHost
from gpuviz_app.core.probes import probe_factories
from gpuviz_app.core.probes.landscape.payload import LandscapePayload
from gpuviz_app.sources.wire import MAGIC, BadMessage, Encoder, RunInfo, decode

RUN = RunInfo(script="train.py", host="box", pid=4242, name="tiny", started=1.5e9, run=1)


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def payloads_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor, names=("weights", "embedding")) -> dict:
    """Real payloads of the probes after a few steps of training `model`."""
    step = [0]
    context = build_context(model, (x, y), nn.CrossEntropyLoss(), "tiny", step_source=lambda: step[0])
    host = ProbeHost(probe_factories(set(names)), ProbeDemand(shown=names))
    host.start_run(context)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step[0] += 1
        context.hooks.run(context)
    host.demand.force()
    host.collect(context)
    host.close()
    return dict(host.parts)


def same(a, b) -> None:
    """`b` (decoded) holds the values of `a` (sent): arrays as numpy, tuples as tuples, classes kept."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(b, a)
    elif dataclasses.is_dataclass(a):
        assert type(b) is type(a)
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name))
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(b) == list(a)
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(b) is type(a) and len(b) == len(a)
        for u, v in zip(a, b):
            same(u, v)
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert b == a and type(b) is type(a)


def round_trip(parts: dict, encoder: Encoder | None = None, refs=None):
    encoder = encoder or Encoder()
    frames = encoder.encode(RUN, 7, {"step": 3, "wall_time": 10.0, "finished": False, "diverged_step": None},
                            {"train_loss": 0.5}, {name: 1 for name in parts}, parts,
                            {"train_loss": (0, np.array([1, 2, 3]), np.array([0.9, 0.7, 0.5]))})
    wire = [bytes(f) for f in frames]  # what a socket delivers
    return decode(wire, refs), wire


def test_weights_payloads_of_a_linear_and_a_conv_model_come_back_equal():
    torch.manual_seed(0)
    x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 3, (16,))
    parts = payloads_of(SmallCNN(), x, y, names=("weights",))
    weights = parts["weights"]
    assert weights.matrices and weights.filters  # both a MatrixImage and a FilterGrid travel
    message, _ = round_trip(parts)
    same(weights, message.parts["weights"])
    assert message.run == RUN and message.snapshot["step"] == 3 and message.latest == {"train_loss": 0.5}
    base, steps, values = message.rows["train_loss"]
    assert base == 0 and steps.tolist() == [1, 2, 3] and values.tolist() == [0.9, 0.7, 0.5]


def test_an_embedding_frame_comes_back_equal_and_its_large_inputs_travel_once_then_by_reference():
    torch.manual_seed(0)
    x, y = torch.rand(600, 3, 8, 8), torch.randint(0, 3, (600,))  # host inputs of 600 images: over the ref size
    parts = payloads_of(SmallCNN(), x, y, names=("embedding",))
    frame = parts["embedding"]
    assert frame.inputs is not None and frame.inputs.nbytes >= 1 << 16
    encoder = Encoder()
    first, wire = round_trip(parts, encoder)
    same(frame, first.parts["embedding"])
    assert first.refs  # the inputs were sent with a key the receiver keeps
    second, wire2 = round_trip(parts, encoder, refs=lambda run: first.refs)
    assert sum(map(len, wire2)) < sum(map(len, wire)) - frame.inputs.nbytes // 2
    same(frame, second.parts["embedding"])
    unknown, _ = round_trip(parts, encoder)  # a receiver that missed the first message
    assert unknown.parts["embedding"].inputs is None


def test_a_landscape_payload_comes_back_equal_with_its_grid_and_path():
    payload = LandscapePayload(mode="random", state="done", grid=torch.rand(11, 11), resolution=11, finished_side=11,
                               progress=1.0, span=(1.0, 0.5), centre_step=40, centre_loss=0.25, low=0.1, clip=2.0,
                               path=torch.rand(5, 3), path_steps=(1, 2, 3, 4, 5), eval_batch=64, step=50,
                               message="ok", extra={"note": (1, 2.5)})
    message, _ = round_trip({"landscape": payload})
    same(payload, message.parts["landscape"])
    assert isinstance(message.parts["landscape"].grid, np.ndarray)


def test_an_unfinished_landscape_with_nan_and_nothing_computed_round_trips():
    payload = LandscapePayload(message="waiting for the first centre")
    message, _ = round_trip({"landscape": payload})
    same(payload, message.parts["landscape"])


def test_an_object_of_a_class_not_allowed_is_not_sent():
    @dataclasses.dataclass
    class Sneaky:
        x: int

    with pytest.raises(TypeError):
        Encoder().encode(RUN, 1, {}, {}, {}, {"p": Sneaky(1)}, {})


def good_frames() -> list[bytes]:
    parts = {"landscape": LandscapePayload(grid=np.zeros((3, 3), np.float32), resolution=3)}
    return [bytes(f) for f in Encoder().encode(RUN, 1, {"step": 1}, {}, {"landscape": 1}, parts, {})]


def with_header(change) -> list[bytes]:
    frames = good_frames()
    header = json.loads(frames[1])
    change(header)
    return [frames[0], json.dumps(header).encode(), *frames[2:]]


@pytest.mark.parametrize("frames, reason", [
    ([], "at least two parts"),
    ([b"nope", b"{}"], "marker"),
    ([MAGIC, b"\xff\xfe"], "UTF-8 JSON"),
    ([MAGIC, b"[1, 2]"], "JSON object"),
    ([MAGIC, b"{" * 100_000], "UTF-8 JSON"),
    ([MAGIC, b" " * (2 << 20)], "longer than"),
])
def test_malformed_envelopes_are_refused_in_one_sentence(frames, reason):
    with pytest.raises(BadMessage, match=reason):
        decode(frames)


@pytest.mark.parametrize("change, reason", [
    (lambda h: h["arrays"].__setitem__(0, ["object", [3, 3]]), "dtype that is not allowed"),
    (lambda h: h["arrays"].__setitem__(0, ["float32", [3, 4]]), "does not fit"),
    (lambda h: h["arrays"].__setitem__(0, ["float32", [1 << 40, 1 << 40]]), "does not fit"),
    (lambda h: h["arrays"].__setitem__(0, ["float32", [-3, -3]]), "shape"),
    (lambda h: h["arrays"].append(["uint8", [0]]), "arrays but"),
    (lambda h: h["parts"]["landscape"].__setitem__("$c", "os.system"), "not allowed"),
    (lambda h: h["parts"]["landscape"]["f"].__setitem__("__class__", 1), "unknown fields"),
    (lambda h: h["parts"]["landscape"]["f"].__setitem__("resolution", "three"), "wrong type"),
    (lambda h: h["parts"]["landscape"]["f"]["grid"].__setitem__("$a", 5), "not sent"),
    (lambda h: h["parts"].__setitem__("x", {"$pickle": "..."}), "unknown kind"),
    (lambda h: h["snapshot"].__setitem__("step", "1"), "wrong type"),
    (lambda h: h["run"].__setitem__("pid", 1.5), "wrong type"),
    (lambda h: h.__setitem__("seq", None), "seq"),
])
def test_malformed_headers_are_refused_in_one_sentence(change, reason):
    with pytest.raises(BadMessage, match=reason):
        decode(with_header(change))


def test_a_good_message_decodes():
    message = decode(good_frames())
    assert message.parts["landscape"].grid.shape == (3, 3) and message.snapshot == {"step": 1}
