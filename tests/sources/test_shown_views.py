"""A window says which probes its views need, and the scripts it listens to compute only those:
the union over the windows that said, every probe for a window that never says, a probe switched
on mid-run sends a fresh payload, and a malformed views topic is ignored with a log line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import zmq

from gpuviz_app.sources.remote import Listener
from gpuviz_app.sources.topics import TopicRefused
from gpuviz_app.sources.window_views import VIEWS_TOPIC, WindowViews, parse_views_topic, views_topic
from tests.sources.test_remote import script_env

WAIT_S = 120.0  # generous: the machine may be busy; every wait ends as soon as its event happens
ALL = frozenset({"weights", "embedding", "landscape"})


@pytest.fixture
def folder():
    path = tempfile.mkdtemp(prefix="gv")  # short: a Unix socket path has a length limit
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- the topic and the sender's record of the windows ------------------------------------------
def test_a_views_topic_round_trips_and_leaves_out_names_that_are_not_probes():
    assert parse_views_topic(views_topic("w1", {"weights", "metrics"})) == ("w1", frozenset({"weights"}))
    assert parse_views_topic(views_topic("w1", ())) == ("w1", frozenset())


def _topic(**fields) -> bytes:
    return VIEWS_TOPIC + json.dumps({"kind": "views", "window": "w", "probes": ["weights"], **fields}).encode()


@pytest.mark.parametrize("topic,words", [
    (_topic(probes=["weights", "secrets"]), "names a probe that is not one of"),
    (_topic(probes=["weights", "weights"]), "names a probe twice"),
    (_topic(probes=["weights"] * 50), "more probes than there are"),
    (_topic(probes="weights"), "probes has the wrong type"),
    (_topic(probes=[1]), "names a probe that is not"),
    (_topic(window=7), "window has the wrong type"),
    (_topic(window="w" * 65), "window name is too long"),
    (_topic(extra=1), "wrong fields"),
    (_topic(kind="offer"), "unknown kind"),
    (VIEWS_TOPIC + b"\xff", "not UTF-8 JSON"),
    (VIEWS_TOPIC + b"[]", "not a JSON object"),
    (VIEWS_TOPIC + b" " * 5000, "too long"),
])
def test_a_malformed_views_topic_is_ignored_with_a_log_line(topic, words, caplog):
    with pytest.raises(TopicRefused, match=words):
        parse_views_topic(topic)
    windows = WindowViews()
    assert windows.subscription(b"\x01" + topic)  # taken as a views topic, not as a window joining
    assert windows.views == {}
    assert words in caplog.text and "ignored a window's views topic" in caplog.text
    assert windows.shown(1, ALL) == ALL  # the window counts as one that said nothing


def test_the_sender_follows_the_union_of_the_windows_that_said_and_every_probe_for_one_that_did_not():
    windows = WindowViews()
    assert not windows.subscription(b"\x01")  # a window joining is not a views topic
    assert windows.shown(0, ALL) == frozenset()
    assert windows.shown(1, ALL) == ALL  # it has not said yet
    windows.subscription(b"\x01" + views_topic("a", {"weights"}))
    assert windows.shown(1, ALL) == {"weights"}
    windows.subscription(b"\x01" + views_topic("b", {"embedding"}))
    assert windows.shown(2, ALL) == {"weights", "embedding"}
    assert windows.shown(3, ALL) == ALL  # a third window said nothing
    assert windows.shown(2, frozenset({"weights"})) == {"weights"}  # only probes the script has
    # "a" says anew: the new topic comes first, then the old one is dropped
    windows.subscription(b"\x01" + views_topic("a", {"landscape"}))
    windows.subscription(b"\x00" + views_topic("a", {"weights"}))
    assert windows.shown(2, ALL) == {"landscape", "embedding"}
    windows.subscription(b"\x00" + views_topic("b", {"embedding"}))  # "b" left
    assert windows.shown(1, ALL) == {"landscape"}


# -- a script in another process -----------------------------------------------------------------
def until_told_script(folder: str) -> tuple[Path, Path]:
    """A script that trains until `stop` exists, then 5 steps more."""
    stop = Path(folder) / "stop"
    script = Path(folder) / "until_told.py"
    script.write_text(textwrap.dedent(f"""
        import torch
        from pathlib import Path
        from torch import nn
        import gpuviz_app as gv
        torch.manual_seed(2)
        x = torch.randn(256, 5); y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
        model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        stop, extra = Path({str(stop)!r}), 5
        with gv.attach(model, loss_fn=nn.CrossEntropyLoss(), optimizer=opt, sample=(x[:64], y[:64]),
                       name="until-told") as viz:
            while extra:
                idx = torch.randint(0, 256, (32,))
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(); loss.backward(); opt.step()
                viz.step(loss=loss)
                if stop.exists():
                    extra -= 1
    """))
    return script, stop


class Seen:
    """Every part name each message of the run carried (the listener keeps older parts)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def __call__(self, run) -> None:
        if run.latest is not None:
            self.names |= {name for name, part in run.latest.parts.items() if part is not None}


def _run_script(folder: str, listener: Listener, during) -> None:
    script, stop = until_told_script(folder)
    proc = subprocess.Popen([sys.executable, str(script)], env=script_env(listener.address),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        during()
    finally:
        stop.write_text("stop")
        _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err[-3000:]
    assert listener.wait_for(lambda l: l.runs() and l.runs()[0].finished, WAIT_S)


def _has(listener: Listener, name: str, at_least: int = 1):
    return lambda l: bool(l.runs()) and (l.runs()[0].latest.versions.get(name, 0) >= at_least
                                         and l.runs()[0].latest.parts.get(name) is not None)


def test_a_window_showing_the_weights_gets_weights_only_and_embedding_once_it_shows_that(folder):
    seen = Seen()
    listener = Listener(f"ipc://{folder}/w.sock", shown={"weights", "metrics"}, on_message=seen)
    switched: dict[str, int] = {}

    def during() -> None:
        assert listener.wait_for(_has(listener, "weights", at_least=3), WAIT_S)
        assert seen.names == {"weights"}, seen.names  # three weights payloads, nothing else computed
        listener.set_shown({"embedding"})  # as `RemoteRun.send(SetShownProbes(...))` does
        assert listener.wait_for(_has(listener, "embedding"), WAIT_S)
        run = listener.runs()[0]
        switched["weights"], switched["embedding"] = run.latest.versions["weights"], run.latest.versions["embedding"]
        assert listener.wait_for(_has(listener, "embedding", at_least=switched["embedding"] + 2), WAIT_S)

    try:
        _run_script(folder, listener, during)
    finally:
        listener.close()
    last = listener.runs()[0].latest
    assert "landscape" not in seen.names and "landscape" not in last.versions
    assert last.versions["weights"] == switched["weights"]  # not computed once hidden
    assert last.parts["embedding"].positions.shape == (64, 2)


def test_the_shown_probes_reach_the_script_through_the_run_source(folder):
    from gpuviz_app.core.commands import SetShownProbes

    seen = Seen()
    listener = Listener(f"ipc://{folder}/w.sock", shown=(), on_message=seen)  # the metrics view alone

    def during() -> None:
        assert listener.wait_for(lambda l: l.runs() and l.runs()[0].step >= 5, WAIT_S)
        assert seen.names == set()
        listener.runs()[0].send(SetShownProbes(frozenset({"landscape"})))
        assert listener.wait_for(_has(listener, "landscape"), WAIT_S)

    try:
        _run_script(folder, listener, during)
    finally:
        listener.close()
    assert seen.names == {"landscape"}


def test_a_window_that_never_says_what_it_shows_gets_every_probe(folder):
    seen = Seen()
    listener = Listener(f"ipc://{folder}/w.sock", on_message=seen)

    def during() -> None:
        assert listener.wait_for(lambda l: all(_has(l, name)(l) for name in ALL), WAIT_S)

    try:
        _run_script(folder, listener, during)
    finally:
        listener.close()
    assert seen.names == ALL


# -- two windows on one sender ---------------------------------------------------------------------
def _window(context: zmq.Context, address: str, *topics: bytes) -> zmq.Socket:
    """A bare window: a SUB socket that subscribes everything and `topics`."""
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    for topic in (b"", *topics):
        socket.setsockopt(zmq.SUBSCRIBE, topic)
    socket.bind(address)
    return socket


def test_two_windows_get_the_union_and_a_window_that_leaves_takes_its_views_along(folder, caplog):
    import torch

    import gpuviz_app as gv
    from gpuviz_app.core.attached_run import hosting
    from gpuviz_app.sources.sender import RemoteSender

    context = zmq.Context()
    first = _window(context, f"ipc://{folder}/a.sock", views_topic("a", {"weights"}))
    second = _window(context, f"ipc://{folder}/b.sock", views_topic("b", {"embedding"}))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    sender = RemoteSender(f"ipc://{folder}/a.sock", publish_hz=1e9)  # reads subscriptions every step
    sender._socket.connect(f"ipc://{folder}/b.sock")  # a second window on the same script
    with hosting(sender):
        viz = gv.attach(model, loss_fn=torch.nn.CrossEntropyLoss(), sample=(x, y))

    windows = [first, second]

    def step_until(condition) -> bool:
        deadline = time.monotonic() + WAIT_S
        while not condition() and time.monotonic() < deadline:
            viz.step(loss=torch.nn.functional.cross_entropy(model(x), y))
            for window in windows:  # a socket attaches its connections (and subscribes) only when used
                while not window.closed and window.poll(0):
                    window.recv_multipart()
        return condition()

    try:
        ok = step_until(lambda: sender.subscribers == 2 and sender.demand.shown == {"weights", "embedding"})
        assert ok, (sender.subscribers, sender.demand.shown, sender.windows.views)
        assert step_until(lambda: {"weights", "embedding"} <= sender.probe_host.versions.keys())
        assert "landscape" not in sender.probe_host.versions
        windows.remove(second)
        second.close()  # the second window leaves: its socket's end unsubscribes its topics
        assert step_until(lambda: sender.subscribers == 1), sender.subscribers
        assert sender.demand.shown == {"weights"}
        embedding = sender.probe_host.versions["embedding"]
        weights = sender.probe_host.versions["weights"]
        assert step_until(lambda: sender.probe_host.versions["weights"] >= weights + 3)
        assert sender.probe_host.versions["embedding"] == embedding
        third = _window(context, f"ipc://{folder}/c.sock", VIEWS_TOPIC + b'{"kind":"views"}')
        sender._socket.connect(f"ipc://{folder}/c.sock")  # a window whose views topic is malformed
        windows.append(third)
        assert step_until(lambda: sender.subscribers == 2 and sender.demand.shown == ALL)
        assert "ignored a window's views topic: the views views topic has the wrong fields" in caplog.text
    finally:
        viz.close()
        sender.close()
        context.destroy(linger=0)
