"""Every run the window shows is kept in the runs directory while it trains, and the timeline
reads the live run's recorded steps from there."""

from __future__ import annotations

from gpuviz_app.store.reader import open_run
from gpuviz_app.store.runs import list_runs
from tests.ui.conftest import wait_step


def test_the_built_in_run_is_recorded_and_the_timeline_reads_it_live(main_window, qtbot):
    window = main_window("--device", "cpu", "--steps", "30", "--views", "metrics,weights")
    wait_step(qtbot, window, 30)
    live = window.timeline.run_frames
    assert live is not None
    qtbot.waitUntil(lambda: live.refresh() >= 0 and len(live.steps()) > 0 and live.steps()[-1] == 30, timeout=30_000)
    last = window.frames.snapshot
    window.shutdown()
    (summary,) = list_runs()  # (the runs directory of this test: GPUVIZ_RUNS)
    assert summary.steps == 30 and summary.model == last.model and summary.dataset == last.dataset
    shown = open_run(summary.path).snapshot_at(30)
    assert shown.version("weights") == last.version("weights") and shown.config == last.config
