"""A plot's texts share one glyph atlas (the metrics view's plots, one between them) and draw what
a text with its own atlas draws."""

from __future__ import annotations

import numpy as np

from gpuviz_app.render import plot as plot_module
from gpuviz_app.render.views.metrics import view as metrics_view
from gpuviz_app.render.views.metrics.view import MetricsView


def _picture(view_canvas) -> tuple[np.ndarray, list]:
    canvas = view_canvas([MetricsView()], size=(900, 560))
    plot = canvas.views[0].loss
    plot.title = "Loss, a longer title 0123456789"
    plot.legend = [("train loss", "#ff6060"), ("eval loss", "#60ff60")]
    plot.message = "no data yet"
    plot.marks = [(0.5, "#ffffff", "diverged")]
    plot.refresh()
    texts = [text for p in (plot, canvas.views[0].acc)
             for text in (p.tick_x, p.tick_y, p.labels, p.legend_text, p.mark_text, p.message_text)]
    return canvas.canvas.render(), [text._font_manager for text in texts]


def test_the_texts_of_the_metrics_plots_share_one_atlas_and_draw_as_with_their_own(view_canvas, monkeypatch):
    shared, managers = _picture(view_canvas)
    assert len({id(m) for m in managers}) == 1
    monkeypatch.setattr(plot_module, "FontManager", lambda method: None)  # each text makes its own
    monkeypatch.setattr(metrics_view, "FontManager", lambda method: None)
    own, managers = _picture(view_canvas)
    assert len({id(m) for m in managers}) == 12
    assert (shared[..., :3] > 200).sum() > 500  # the texts are drawn
    # the same glyph tiles, at other places in the atlas: a glyph's edge may sample one level apart
    assert np.abs(shared.astype(int) - own).max() <= 1
    assert (shared != own).any(axis=2).sum() <= 20
