"""The loading benchmark produces its figures (their values are judged by `gpuviz bench`, not here)."""

import math

from gpuviz_app.bench import loading


def test_quick_loading_bench_reports_finite_figures_with_moving_progress():
    figures = loading.run(quick=True)
    assert [f.key for f in figures] == ["loading.idx", "loading.images", "loading.csv_stall", "loading.csv_memory"]
    for f in figures:
        assert f.finite() and math.isfinite(f.ratio)
        assert f.extra["progress_updates"] > 5
    assert figures[0].extra["samples"] == 6000 and figures[1].extra["samples"] == 1000
    stall, memory = figures[2:]
    assert stall.extra["rows"] > 40_000 and stall.extra["ticks"] > 10  # the 20 MB table, a timer that ran
    assert 0 < stall.ours < stall.extra["seconds"]
    assert memory.ours == memory.extra["peak_bytes"] / memory.extra["array_bytes"] and memory.ours > 1
