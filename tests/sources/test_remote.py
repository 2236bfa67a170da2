"""A script in another process sends to a listener: its runs arrive, garbage is dropped, the
listener survives, and a script with nobody listening trains to its end."""

import math
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuviz_app.core.probes.landscape.payload import LandscapePayload
from gpuviz_app.sources import RunSource
from gpuviz_app.sources.address import AddressError
from gpuviz_app.sources.remote import Listener
from gpuviz_app.sources.wire import MAGIC, BadMessage, Encoder, RunInfo, decode

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 120.0  # generous: the machine may be busy; every wait ends as soon as its event happens


@pytest.fixture
def address():
    folder = tempfile.mkdtemp(prefix="gv")  # short: a Unix socket path has a length limit
    yield f"ipc://{folder}/w.sock"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def listener(address):
    listening = Listener(address)
    yield listening
    listening.close()


def script_env(address: str, **extra: str) -> dict:
    return {**os.environ, "GPUVIZ_ADDRESS": address, "GPUVIZ_LAUNCH": "0", "PYTHONPATH": str(REPO), **extra}


def good_message(seq: int = 1, step: int = 5) -> list[bytes]:
    run = RunInfo(script="fake.py", host="elsewhere", pid=1, name="fake", started=1.0, run=1)
    parts = {"landscape": LandscapePayload(grid=np.arange(9, dtype=np.float32).reshape(3, 3), resolution=3)}
    frames = Encoder().encode(run, seq, {"step": step, "finished": False}, {"train_loss": 0.25},
                              {"landscape": seq}, parts, {"train_loss": (0, np.array([step]), np.array([0.25]))})
    return [bytes(f) for f in frames]


frames_strategy = st.one_of(
    st.lists(st.binary(max_size=64), max_size=5),
    st.builds(lambda rest: [MAGIC, *rest], st.lists(st.binary(max_size=256), min_size=1, max_size=4)),
    st.builds(lambda cut, i: good_message()[:i] if i < 2 else [*good_message()[:i], good_message()[i][:cut]],
              st.integers(0, 64), st.integers(0, 3)),
    st.builds(lambda text: [MAGIC, text.encode(), b"\0" * 36],
              st.text(alphabet='{}[]":,$acdrtfk0123456789.- eE', max_size=200)),
    st.builds(lambda dtype, shape: [MAGIC, good_message()[1].replace(b'["float32",[3,3]]',
                                                                       f'["{dtype}",{shape}]'.encode()),
                                    *good_message()[2:]],
              st.sampled_from(["float32", "object", "complex128", "<f4", "U8", "V4", "float64", "bool"]),
              st.lists(st.integers(-2, 1 << 62), max_size=9)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames_strategy)
def test_the_decoder_refuses_any_malformed_message_with_a_bad_message_error_only(frames):
    try:
        decode(frames)
    except BadMessage as exc:
        assert str(exc) and "\n" not in str(exc)


def connected_publisher(address: str) -> tuple[zmq.Context, zmq.Socket]:
    """A raw publisher that has seen the listener subscribe (so nothing it sends is lost to joining)."""
    context = zmq.Context()
    socket = context.socket(zmq.XPUB)
    socket.setsockopt(zmq.LINGER, 2000)
    socket.connect(address)
    assert socket.poll(int(WAIT_S * 1000), zmq.POLLIN), "the listener never subscribed"
    assert socket.recv()[:1] == b"\x01"
    return context, socket


@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(frames_strategy, min_size=40, max_size=40))
def test_a_listener_survives_a_stream_of_garbage_and_still_shows_the_good_message_after_it(listener, garbage):
    context, socket = connected_publisher(listener.address)
    try:
        for frames in garbage:
            if frames:
                socket.send_multipart(frames)
        socket.send_multipart(good_message(seq=1, step=5))
        assert listener.wait_for(lambda l: any(r.step == 5 for r in l.runs()), WAIT_S)
    finally:
        socket.close()
        context.term()
    (run,) = listener.runs()
    snapshot = run.mailbox.take()
    assert snapshot.step == 5 and snapshot.parts["landscape"].grid[2, 2] == 8.0
    assert run.history.total("train_loss") == 1
    assert listener.dropped >= sum(1 for frames in garbage if frames and not _decodes(frames))
    assert listener._thread.is_alive()


def _decodes(frames) -> bool:
    try:
        decode(frames)
        return True
    except BadMessage:
        return False


def test_a_listener_with_a_token_drops_messages_without_it(address):
    listening = Listener(address, token="s3cret")
    try:
        context, socket = connected_publisher(address)
        socket.send_multipart(good_message(step=1))  # no token
        run = RunInfo(script="fake.py", host="elsewhere", pid=1, name="fake", started=1.0, run=1)
        frames = Encoder(token="s3cret").encode(run, 2, {"step": 2}, {}, {}, {}, {})
        socket.send_multipart(frames)
        assert listening.wait_for(lambda l: any(r.step == 2 for r in l.runs()), WAIT_S)
        assert listening.dropped == 1
        socket.close()
        context.term()
    finally:
        listening.close()


def test_a_network_address_needs_the_option_and_a_token():
    with pytest.raises(AddressError, match="network"):
        Listener("tcp://0.0.0.0:47999")
    with pytest.raises(AddressError, match="network"):
        Listener("tcp://0.0.0.0:47999", allow_network=True)


def test_a_second_listener_on_the_same_address_is_refused_in_one_sentence(listener):
    with pytest.raises(AddressError, match="another gpuviz window is listening"):
        Listener(listener.address)


def test_a_script_in_another_process_streams_its_run_with_steps_and_finite_payloads(listener):
    seen = []
    listener.on_message = lambda run: seen.append(run.latest)
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "mlp_regression.py"), "--steps", "60"],
                          env=script_env(listener.address), capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert listener.wait_for(lambda l: any(r.finished for r in l.runs()), WAIT_S)
    (run,) = listener.runs()
    assert isinstance(run, RunSource)
    assert run.info.script == "mlp_regression.py" and run.info.name == "mlp-regression" and run.info.pid != os.getpid()
    last = run.mailbox.take()
    assert last.finished and last.step == 60 and last.model == "mlp-regression"
    assert run.history.total("train_loss") == 60 and run.history.total("lr") == 60
    assert math.isfinite(last.latest["train_loss"])
    weights, frame = last.parts["weights"], last.parts["embedding"]
    assert np.isfinite(weights.counts).all() and weights.counts.sum() > 0
    assert weights.matrices and all(np.isfinite(m.values).all() for m in weights.matrices.values())
    assert frame.positions.shape == (512, 2) and np.isfinite(frame.positions).all()
    assert [s.step for s in seen] == sorted(s.step for s in seen)  # in order, each a newer step


def test_a_script_whose_loss_surface_is_computing_when_it_closes_exits_cleanly(listener):
    """The landscape's background thread is joined at close: a thread still inside torch when the
    interpreter exits aborts the process."""
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "residual_cnn.py"), "--steps", "12",
                           "--device", "cpu"], env=script_env(listener.address), capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert listener.wait_for(lambda l: any(r.finished for r in l.runs()), WAIT_S)
    (run,) = listener.runs()
    assert run.latest.step == 12 and run.latest.parts.get("landscape") is not None


def test_a_script_with_nobody_listening_trains_to_its_end(address):
    code = textwrap.dedent("""
        import torch, gpuviz_app as gv
        model = torch.nn.Linear(4, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(64, 4), torch.randn(64, 1)
        with gv.attach(model, loss_fn=torch.nn.MSELoss(), optimizer=opt, sample=(x, y)) as viz:
            for _ in range(300):
                loss = torch.nn.functional.mse_loss(model(x), y)
                opt.zero_grad(); loss.backward(); opt.step()
                viz.step(loss=loss)
            host = viz._host
        print(viz.step_count, host.stats["sent"], host.stats["skipped"] > 0)
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=script_env(address), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["300", "0", "True"]
    assert "no gpuviz is listening at" in proc.stderr


def test_a_window_that_starts_late_gets_the_whole_history_and_the_payloads(address):
    import time

    import torch

    import gpuviz_app as gv
    from gpuviz_app.core.attached_run import hosting
    from gpuviz_app.sources.sender import RemoteSender

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    sender = RemoteSender(address, views=("weights",), publish_hz=1e9)  # every step
    with hosting(sender):
        viz = gv.attach(model, loss_fn=torch.nn.MSELoss(), optimizer=opt, sample=(x, y))

    def step() -> None:
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        viz.step(loss=loss, **{"train/lr": 0.05})

    try:
        for _ in range(40):  # nobody listens: nothing is made or sent
            step()
        assert sender.stats["sent"] == 0 and sender.stats["skipped"] > 0
        late = Listener(address)
        try:
            deadline = time.monotonic() + WAIT_S
            while not late.runs() and time.monotonic() < deadline:
                step()  # until the window has subscribed and heard from the script
            (run,) = late.runs()
            assert run.latest.parts["weights"] is not None  # the first message a late window gets is complete
            for _ in range(5):
                step()
            viz.close()
            assert late.wait_for(lambda l: run.finished, WAIT_S)
            # the steps from before the window listened are there too
            assert run.history.total("train_loss") == run.history.total("train/lr") == viz.step_count
            steps = run.history.rows("train_loss")["first_step"]
            assert steps.tolist() == list(range(1, viz.step_count + 1))
        finally:
            late.close()
    finally:
        viz.close()
        sender.close()


def test_a_model_a_view_cannot_show_still_trains_and_sends_the_other_views(listener, caplog):
    import time

    import torch

    import gpuviz_app as gv
    from gpuviz_app.core.attached_run import hosting
    from gpuviz_app.sources.sender import RemoteSender

    model = torch.nn.Linear(4, 1)  # the embedding probe needs a layer inside the model: it refuses this one
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    sender = RemoteSender(listener.address, views=("embedding", "weights"))
    with hosting(sender):
        viz = gv.attach(model, loss_fn=torch.nn.MSELoss(), sample=(x, y))
    try:
        deadline = time.monotonic() + WAIT_S
        while not listener.runs() and time.monotonic() < deadline:  # until the listener has heard a step
            viz.step(loss=torch.nn.functional.mse_loss(model(x), y))
        viz.close()
        assert listener.wait_for(lambda l: l.runs()[0].finished, WAIT_S)
    finally:
        viz.close()
        sender.close()
    last = listener.runs()[0].latest
    assert last.parts.get("weights") is not None and last.parts.get("embedding") is None
    assert "the embedding view cannot show this model" in caplog.text


def test_a_loopback_tcp_address_works_where_unix_sockets_do_not():
    import socket as net

    with net.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listening = Listener(f"tcp://127.0.0.1:{port}")
    try:
        context, socket = connected_publisher(listening.address)
        socket.send_multipart(good_message(step=3))
        assert listening.wait_for(lambda l: any(r.step == 3 for r in l.runs()), WAIT_S)
        socket.close()
        context.term()
    finally:
        listening.close()
