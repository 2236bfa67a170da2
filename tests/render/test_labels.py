"""A plot's texts are one visual of many labels, each with its own anchor, size and colour, and
draw what VisPy's text visuals, one per anchor and size, draw; the metrics view's plots share
one glyph atlas."""

from __future__ import annotations

import numpy as np
from vispy import scene
from vispy.visuals.text.text import FontManager

from gpuviz_app.render.views.metrics.view import MetricsView
from gpuviz_app.render.visuals.labels import Label, Labels

LABELS = [
    Label("0.25", (120, 40), "#ffffff", 7, "right", "center"),
    Label("1,000", (200, 80), "#ffffff", 7, "center", "top"),
    Label("Loss  \u00b7  step 12", (30, 120), "#d8dee9", 8, "left", "center"),
    Label("train loss \u2014", (300, 150), "#ff6060", 7, "right", "center"),
    Label("no data yet", (160, 190), "#d8dee9", 9, "center", "center"),
    Label("diverged", (40, 220), "#ffcc00", 7, "left", "bottom"),
]


def _render(canvas, shown) -> np.ndarray:
    for visual, on in shown:
        visual.visible = on
    return canvas.render(alpha=False)


def test_labels_in_one_visual_draw_what_a_text_visual_each_draws(egl_app):
    canvas = scene.SceneCanvas(size=(320, 240), app=egl_app, bgcolor="black", show=False)
    try:
        fonts = FontManager(method="cpu")  # one atlas: the same glyph tiles at the same places
        merged = Labels(font_manager=fonts, font_size=7, parent=canvas.scene)
        merged.set_labels(LABELS)
        separate = [scene.visuals.Text(label.text, pos=label.pos, color=label.color, font_size=label.size,
                                       anchor_x=label.anchor_x, anchor_y=label.anchor_y, font_manager=fonts,
                                       parent=canvas.scene) for label in LABELS]
        one = _render(canvas, [(merged, True)] + [(t, False) for t in separate])
        each = _render(canvas, [(merged, False)] + [(t, True) for t in separate])
    finally:
        canvas.close()
    assert np.abs(one.astype(int) - each).max() <= 2
    assert (one != each).any(axis=2).sum() <= 20
    assert (one.max(axis=2) > 128).sum() > 400  # the labels are drawn
    assert (one[..., 0] > 128).any() and (one[..., 1] < 128).any()  # in their own colours
    assert [label.text for label in merged.labels] == [label.text for label in LABELS]
    assert [label.text for label in merged.labels if label.color == "#ff6060"] == ["train loss \u2014"]


def test_setting_no_labels_draws_nothing(egl_app):
    canvas = scene.SceneCanvas(size=(160, 120), app=egl_app, bgcolor="black", show=False)
    try:
        labels = Labels(parent=canvas.scene)
        labels.set_labels(LABELS[:2])
        assert (canvas.render(alpha=False).max(axis=2) > 128).any()
        labels.set_labels([])
        assert (canvas.render(alpha=False).max(axis=2) == 0).all()
    finally:
        canvas.close()


def test_the_metrics_plots_share_one_atlas_and_draw_every_kind_of_text(view_canvas):
    canvas = view_canvas([MetricsView()], size=(900, 560))
    view = canvas.views[0]
    plot = view.loss
    plot.title = "Loss, a longer title 0123456789"
    plot.legend = [("train loss", "#ff6060"), ("eval loss", "#60ff60")]
    plot.message = "no data yet"
    plot.marks = [(0.5, "#ffffff", "diverged")]
    plot.refresh()
    assert len({id(p.texts._font_manager) for p in (view.loss, view.acc)}) == 1
    assert plot.shown_texts("legend") == ["train loss \u2014", "eval loss \u2014"]
    assert plot.shown_texts("message") == ["no data yet"] and plot.shown_texts("marks") == ["diverged"]
    assert plot.shown_texts("title")[0].startswith("Loss, a longer title") and plot.shown_texts("ticks_y")
    assert [label.text for label in plot.texts.labels if label.color == "#60ff60"] == ["eval loss \u2014"]
    pixels = canvas.canvas.render()
    red = pixels[..., 0].astype(int) - pixels[..., 1] > 50
    rows, cols = np.nonzero(red)
    assert red.sum() > 40 and cols.min() > 900 / 2 and rows.max() < 560 / 4  # the red legend entry, top right
