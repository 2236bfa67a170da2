"""The views show a recorded step exactly as they showed it live: the built-in trainer runs in
the window with every published snapshot kept, each view is rendered at the run's last step,
then the same snapshots are replayed through a `ReplaySource` at that step, from memory and from
a run store written with them, and each view is rendered again; the pixels are equal.

The live step compared is the run's last: the only live state that no later publish changes
(once its thread has ended, the snapshot drawn is the last one published). Replaying at a step
that is not the last is covered where the replay source is tested (`tests/sources/test_stored.py`).
"""

from __future__ import annotations

import os

import numpy as np

from gpuviz_app.core.mailbox import Mailbox
from gpuviz_app.export.frames import render_view
from gpuviz_app.sources.stored import ReplaySource
from gpuviz_app.store.frames import MemoryFrames
from tests.ui.conftest import wait_frame

VIEWS = ("metrics", "weights", "embedding", "landscape")
STEPS = 40


class KeepingMailbox(Mailbox):
    """The session's mailbox, keeping every snapshot published into it."""

    kept: list = []

    def put(self, item) -> None:
        KeepingMailbox.kept.append(item)
        super().put(item)


def view_pixels(window) -> dict[str, np.ndarray]:
    return {name: render_view(window.panels[name].canvas) for name in VIEWS}


def test_each_view_shows_a_replayed_step_as_it_showed_it_live(main_window, qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv("GPUVIZ_DISPLAY_BUDGET", "100")
    monkeypatch.setattr(KeepingMailbox, "kept", [])
    monkeypatch.setattr("gpuviz_app.core.session.Mailbox", KeepingMailbox)
    window = main_window("builtin:moons", "--model", "mlp", "--device", "cpu", "--steps", str(STEPS),
                         "--views", ",".join(VIEWS))
    wait_frame(qtbot, window, lambda snap: snap.finished and snap.step == STEPS, timeout=120_000)
    qtbot.waitUntil(lambda: all(window.panels[name].has_canvas for name in VIEWS), timeout=30_000)
    window.thread.shutdown(60_000)  # nothing is published after this
    kept = list(KeepingMailbox.kept)
    last = kept[-1]
    assert last.finished and last.step == STEPS and window.session.mailbox.peek() is last
    wait_frame(qtbot, window, lambda snap: snap is last, timeout=30_000)
    assert set(VIEWS) - {"metrics"} <= set(last.parts)  # every view had its payload
    live = view_pixels(window)

    for name in VIEWS:
        assert len(np.unique(live[name].reshape(-1, 4), axis=0)) > 8, f"{name} shows a picture"

    for frames, how in ((MemoryFrames(kept), "in memory"), (stored(kept, tmp_path), "from the run store")):
        replay = ReplaySource(frames, step=STEPS)
        with qtbot.waitSignal(window.frames.frame_drawn, timeout=30_000,
                              check_params_cb=lambda snap: window.frames.source is replay and snap.step == STEPS):
            window.run_source(replay)
        assert window.frames.drawn.run_id != last.run_id  # the views started afresh, as for any new run
        replayed = view_pixels(window)
        for name in VIEWS:
            assert live[name].shape == replayed[name].shape, name
            differ = np.count_nonzero(np.any(live[name] != replayed[name], axis=-1))
            assert differ == 0, f"{name}: {differ} pixels differ between live and step {STEPS} replayed {how}"


def stored(snapshots, root):
    """The snapshots written to a run store, read back from it."""
    from gpuviz_app.store.layout import new_run_dir
    from gpuviz_app.store.reader import STORE_FILE, open_run
    from gpuviz_app.store.writer import RunWriter

    run = new_run_dir("replayed", root=str(root))
    writer = RunWriter(os.path.join(run, STORE_FILE), queue_size=len(snapshots) + 1)
    for snap in snapshots:
        assert writer.offer(snap)
    writer.close()
    return open_run(run)
