"""The metrics view plots every scalar a run sends, a plot per group of names, each series named."""

from __future__ import annotations

import numpy as np

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.views.metrics import COLORS, MetricsView, plot_groups
from gpuviz_app.render.views.metrics.groups import LINE, POINTS

STEPS = np.arange(1, 201)


def snapshot_of(history: MetricsHistory, step: int = 200, run_id: int = 1) -> Snapshot:
    return Snapshot(run_id=run_id, step=step, wall_time=0.0, metrics=history, latest={})


def hex_rgb(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)])


def data_area(view: MetricsView, key: str, canvas) -> tuple[slice, slice]:
    """Rows and columns of a plot's data area in the rendered picture."""
    box = view.plots[key].view
    corner = box.get_transform("visual", "canvas").map([0, 0])[:2]
    x, y = int(round(corner[0])), int(round(corner[1]))
    w, h = (int(v) for v in box.size)
    return slice(y + 2, y + h - 2), slice(x + 2, x + w - 2)


def count(pixels: np.ndarray, color: str, tol: int = 24) -> int:
    return int(np.all(np.abs(pixels[..., :3].astype(int) - hex_rgb(color)) < tol, axis=-1).sum())


def test_names_are_grouped_by_prefix_with_train_and_eval_sharing_a_plot_per_quantity():
    groups = plot_groups(["train_loss", "grad_norm", "optim/lr", "eval_acc", "train/ppl", "val/ppl",
                          "optim/momentum", "train/loss_kl", "lr"])
    assert [g.key for g in groups] == ["loss", "accuracy", "name:grad_norm", "prefix:optim", "quantity:ppl",
                                       "name:lr"]
    by_key = {g.key: g for g in groups}
    assert by_key["loss"].names == ("train_loss", "train/loss_kl")
    assert [(s.label, s.style) for s in by_key["quantity:ppl"].series] == [("train/ppl", LINE), ("val/ppl", POINTS)]
    assert [s.label for s in by_key["prefix:optim"].series] == ["lr", "momentum"]  # the title says "optim/"
    assert by_key["prefix:optim"].title == "optim/"
    assert len({s.color for s in by_key["loss"].series}) == 2  # each series its own colour in a plot
    assert plot_groups([]) == plot_groups([], "Loss")  # an empty run: one Loss plot saying so
    many = plot_groups([f"metric_{i}" for i in range(20)], max_plots=5)
    assert len(many) == 5 and len(many[-1].series) == 16 and many[-1].title == "16 more groups"


def test_the_built_in_series_keep_their_two_plots(view_canvas):
    history = MetricsHistory(capacity=64)  # the trainer's four series
    history.append("train_loss", STEPS, np.linspace(2.3, 0.2, 200))
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    canvas.push(snapshot_of(history))
    assert [g.key for g in view.groups] == ["loss", "accuracy"]
    assert view.loss.legend == [("train", COLORS["train_loss"]), ("eval points", COLORS["eval_loss"])]
    assert view.acc.legend == [("train (batch)", COLORS["train_acc"]), ("eval points", COLORS["eval_acc"])]


def test_each_group_is_drawn_in_its_own_plot(view_canvas):
    history = MetricsHistory(capacity=256, names=())
    history.append("train_loss", STEPS, np.linspace(2.3, 0.2, 200))  # what `train/loss` is stored as
    history.append("eval_acc", np.array([50, 100, 150, 200]), np.array([0.5, 0.7, 0.8, 0.9]))
    history.append("grad_norm", STEPS, 2 + np.sin(STEPS / 10))
    history.append("lr", STEPS, 1e-3 * np.minimum(1, STEPS / 50))  # small values fill their plot too
    history.append("optim/momentum", STEPS, np.full(200, 0.9))
    history.append("optim/beta2", STEPS, np.linspace(0.99, 0.999, 200))
    view = MetricsView()
    canvas = view_canvas([view], size=(900, 600))
    canvas.push(snapshot_of(history))
    pixels = canvas.render()
    keys = [g.key for g in view.groups]
    assert keys == ["loss", "accuracy", "name:grad_norm", "name:lr", "prefix:optim"]
    areas = {key: data_area(view, key, canvas) for key in keys}
    for key, group in zip(keys, view.groups):
        inside = pixels[areas[key]]
        for look in group.series:
            assert count(inside, look.color) > 30, (key, look.name)  # every series drawn in its plot
        others = [k for k in keys if k != key]
        assert all(areas[key] != areas[k] for k in others)
    lr = pixels[areas["name:lr"]]
    rows = np.flatnonzero(np.all(np.abs(lr[..., :3].astype(int) - hex_rgb(view.groups[3].series[0].color)) < 24,
                                 axis=-1).any(axis=1))
    assert rows.max() - rows.min() > 0.5 * lr.shape[0]  # the ramp from 0 to 1e-3 spans the plot's height
    assert [label for label, _ in view.plots["prefix:optim"].legend] == ["momentum", "beta2"]


def test_a_name_never_seen_before_gets_a_plot_and_a_legend_entry(view_canvas):
    history = MetricsHistory(capacity=256, names=())
    history.append("train_loss", STEPS[:100], np.linspace(2.3, 1.0, 100))
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    canvas.push(snapshot_of(history, 100))
    assert [g.key for g in view.groups] == ["loss"]
    canvas.render()
    history.append("train_loss", STEPS[100:], np.linspace(1.0, 0.5, 100))
    history.append("zq_entropy", STEPS[100:], np.full(100, 0.25))  # flat: the legend alone is in the top rows
    assert canvas.push(snapshot_of(history, 200))
    pixels = canvas.render()
    assert [g.key for g in view.groups] == ["loss", "name:zq_entropy"]
    plot = view.plots["name:zq_entropy"]
    assert plot.legend == [("zq_entropy", view.groups[1].series[0].color)]
    assert plot.shown_texts("legend") == ["zq_entropy \u2014"]
    rows, cols = data_area(view, "name:zq_entropy", canvas)
    color = view.groups[1].series[0].color
    top = pixels[rows.start : rows.start + 14, cols][:, -120:]
    assert count(top, color, tol=60) > 10  # the legend entry, in the series' colour
    assert count(pixels[rows, cols], color) > 100  # and its line


def test_long_and_many_names_stay_inside_their_plot(view_canvas):
    history = MetricsHistory(capacity=256, names=())
    long_name = "encoder/" + "very_long_layer_name_" * 8 + "gradient_norm"
    history.append(long_name, STEPS, np.full(200, 1.0))
    for i in range(30):
        history.append(f"block/{i:02d}_" + "x" * 60, STEPS, np.full(200, float(i)))
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    canvas.push(snapshot_of(history))
    pixels = canvas.render()
    long_plot, block_plot = view.plots["prefix:encoder"], view.plots["prefix:block"]
    entry = long_plot.shown_texts("legend")[0]
    assert "\u2026" in entry and entry.startswith("very_long") and entry.endswith("gradient_norm \u2014")
    texts = block_plot.shown_texts("legend")
    assert texts[-1].endswith(" more") and len(texts) < 30  # the rest counted, not drawn off the plot
    for plot in (long_plot, block_plot):
        x = plot.view.get_transform("visual", "canvas").map([0, 0])[0]
        colors = {color for _, color in plot.legend}
        left_of_plot = pixels[:, : int(x) - 40]  # the tick labels' column and anything further left
        assert all(count(left_of_plot, c, tol=10) == 0 for c in colors)


def test_a_new_run_with_other_names_drops_the_old_plots(view_canvas):
    first = MetricsHistory(capacity=64, names=())
    first.append("grad_norm", STEPS, np.ones(200))
    first.append("lr", STEPS, np.ones(200))
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    canvas.push(snapshot_of(first))
    assert set(view.plots) >= {"name:grad_norm", "name:lr"}
    second = MetricsHistory(capacity=64, names=())
    second.append("train_loss", STEPS[:10], np.linspace(2, 1, 10))
    canvas.push(snapshot_of(second, 10, run_id=2))
    canvas.render()
    assert [g.key for g in view.groups] == ["loss"]
    assert "name:lr" not in view.plots and "name:grad_norm" not in view.plots
    assert view.loss.series["train_loss"].count == 20  # 10 columns x (min, max)
    assert view.loss.widget.size[1] > 0.9 * 400  # the one plot left takes the whole height
