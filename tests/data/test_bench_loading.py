"""The loading benchmark produces its figures (their values are judged by `gpuviz bench`, not here)."""

import math

from gpuviz_app.bench import loading


def test_quick_loading_bench_reports_finite_figures_with_moving_progress():
    figures = loading.run(quick=True)
    assert [f.key for f in figures] == ["loading.idx", "loading.images"]
    for f in figures:
        assert f.finite() and math.isfinite(f.ratio)
        assert f.extra["progress_updates"] > 5
    assert figures[0].extra["samples"] == 6000 and figures[1].extra["samples"] == 1000
