"""A distributed job's per-rank series: a plot per quantity, a line per rank, the straggler highlighted."""

from __future__ import annotations

import numpy as np

from gpuviz_app.core.distributed.payload import DistributedPayload
from gpuviz_app.core.history import Decimated, MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.views.metrics import MetricsView, plot_groups
from gpuviz_app.render.views.metrics.curves import band
from gpuviz_app.render.views.metrics.groups import (
    BAND,
    BAND_COLOR,
    HIGHLIGHT_WIDTH,
    LINE,
    MAX_RANK_LINES,
    PALETTE,
    WIDTH,
    brighter,
)

STEPS = np.arange(1, 201)
STRAGGLER = " \u00b7 straggler (others wait for it)"


def rank_names(ranks: int, quantities=("loss", "steps_per_s", "wait_ms")) -> list[str]:
    return [f"rank{r}/{q}" for r in range(ranks) for q in quantities]


def payload(ranks: int, straggler: int) -> DistributedPayload:
    zeros = np.zeros(ranks)
    return DistributedPayload(step=200, world_size=ranks, every=10, loss=zeros, steps_per_s=zeros, wait_s=zeros,
                              compute_s=zeros, straggler=straggler, wait_source="test")


def test_rank_series_get_a_plot_per_quantity_with_a_line_per_rank_in_rank_order():
    names = ["train/loss", "rank1/loss", "rank0/loss", "rank1/steps_per_s", "rank0/steps_per_s", "rank1/wait_ms",
             "rank0/wait_ms", "rank10/loss", "rank2/loss", "lr"]
    groups = plot_groups(names)
    assert [g.key for g in groups] == ["loss", "rank:loss", "rank:steps_per_s", "rank:wait_ms", "name:lr"]
    by_key = {g.key: g for g in groups}
    assert by_key["loss"].names == ("train/loss",)  # the job's overall loss keeps its plot
    assert [g.title for g in groups[1:4]] == ["loss per rank", "steps/s per rank",
                                              "waiting in collectives per rank (ms)"]
    losses = by_key["rank:loss"].series
    assert [s.label for s in losses] == ["rank 0", "rank 1", "rank 2", "rank 10"]  # numeric order, not arrival
    assert [s.name for s in losses] == ["rank0/loss", "rank1/loss", "rank2/loss", "rank10/loss"]
    assert [s.color for s in losses] == [PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[0]]  # palette by rank
    assert all(s.style == LINE and s.width == WIDTH for s in losses)
    assert plot_groups(["rank0/grad_norm", "rank1/grad_norm"])[0].title == "grad_norm per rank"


def test_the_straggler_is_highlighted_and_named_and_only_a_real_rank_is():
    names = rank_names(3)
    groups = plot_groups(names, straggler=1)
    assert len(groups) == 3
    for group in groups:
        looks = {s.name.split("/")[0]: s for s in group.series}
        assert looks["rank1"].label == "rank 1" + STRAGGLER
        assert looks["rank1"].width == HIGHLIGHT_WIDTH and looks["rank1"].color == brighter(PALETTE[1])
        assert [looks[r].label for r in ("rank0", "rank2")] == ["rank 0", "rank 2"]
        assert all(looks[r].width == WIDTH and looks[r].color == PALETTE[i] for i, r in ((0, "rank0"), (2, "rank2")))
    for none in (-1, 3):  # no straggler, or a rank the history does not hold
        looks = [s for g in plot_groups(names, straggler=none) for s in g.series]
        assert all(s.width == WIDTH and "straggler" not in s.label for s in looks)
    assert brighter("#000000") == "#808080" and brighter("#88c0d0") != "#88c0d0"


def test_many_ranks_are_capped_to_a_band_rank_0_and_the_straggler():
    names = rank_names(64)
    groups = plot_groups(names, straggler=37)
    assert [g.key for g in groups] == ["rank:loss", "rank:steps_per_s", "rank:wait_ms"]
    for group in groups:
        quantity = group.key.split(":")[1]
        assert len(group.series) <= MAX_RANK_LINES
        shade, first, slow = group.series
        assert shade.style == BAND and shade.color == BAND_COLOR
        assert shade.members == tuple(f"rank{r}/{quantity}" for r in range(64))  # every rank's extremes shown
        assert shade.label == "64 ranks min\u2013max (62 not drawn singly)"
        assert (first.label, first.width) == ("rank 0", WIDTH)
        assert (slow.name, slow.label, slow.width) == (f"rank37/{quantity}", "rank 37" + STRAGGLER, HIGHLIGHT_WIDTH)
        assert set(group.sources) == set(shade.members)
    calm = plot_groups(names)[0].series
    assert [s.label for s in calm] == ["64 ranks min\u2013max (63 not drawn singly)", "rank 0"]
    few = plot_groups(rank_names(MAX_RANK_LINES), straggler=3)[0].series
    assert len(few) == MAX_RANK_LINES and BAND not in {s.style for s in few}  # up to the cap: a line each


def test_a_band_spans_every_series_min_and_max_per_column():
    a = Decimated(np.array([0.5, 1.5, 2.5]), np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.5, 3.5]))
    b = Decimated(np.array([0.5, 2.5]), np.array([0.0, 4.0]), np.array([0.2, np.nan]))
    d = band([a, b], 0, 3, 3)
    np.testing.assert_array_equal(d.x, [0.5, 1.5, 2.5])
    np.testing.assert_array_equal(d.ymin, [0.0, 2.0, 3.0])
    np.testing.assert_array_equal(d.ymax, [1.5, 2.5, 3.5])  # a NaN never hides a finite extreme


def data_area(view: MetricsView, key: str) -> tuple[slice, slice]:
    box = view.plots[key].view
    x, y = (int(round(v)) for v in box.get_transform("visual", "canvas").map([0, 0])[:2])
    w, h = (int(v) for v in box.size)
    return slice(y + 2, y + h - 2), slice(x + 2, x + w - 2)


def thickness(pixels: np.ndarray, color: str, tol: int = 20) -> float:
    """The median height in pixels of `color` in the columns where it is drawn (0 if nowhere)."""
    rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)])
    hits = np.all(np.abs(pixels[..., :3].astype(int) - rgb) < tol, axis=-1).sum(axis=0)
    return float(np.median(hits[hits > 0])) if hits.any() else 0.0


def test_the_straggler_line_is_drawn_thicker_and_brighter_and_follows_the_newest_payload(view_canvas):
    history = MetricsHistory(capacity=256, names=())
    for r in range(4):  # flat lines at distinct heights
        history.append(f"rank{r}/loss", STEPS, np.full(200, 1.0 + r))
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))

    def drawn(parts: dict) -> dict[str, tuple[float, float]]:
        """Per rank: thickness in its own colour and in its highlighted colour, left of the legend."""
        canvas.push(Snapshot(run_id=1, step=200, wall_time=0.0, metrics=history, latest={}, parts=parts))
        pixels = canvas.render()
        rows, cols = data_area(view, "rank:loss")  # where the layout put the plot, once drawn
        left = pixels[rows, cols][:, : int(0.4 * (cols.stop - cols.start))]
        return {r: (thickness(left, PALETTE[r]), thickness(left, brighter(PALETTE[r]))) for r in range(4)}

    plain = drawn({})
    assert [g.key for g in view.groups] == ["rank:loss"]
    assert all(own > 0 and own <= 2 and bright == 0 for own, bright in plain.values())  # nothing highlighted

    slow2 = drawn({"distributed": payload(4, 2)})
    assert slow2[2][0] == 0 and slow2[2][1] >= 3  # rank 2 now only in its bright colour, thick
    assert all(slow2[r][0] == plain[r][0] and slow2[r][1] == 0 for r in (0, 1, 3))
    assert view.plots["rank:loss"].legend[2] == ("rank 2" + STRAGGLER, brighter(PALETTE[2]))

    slow1 = drawn({"distributed": payload(4, 1)})  # a later payload names another rank
    assert slow1[1][0] == 0 and slow1[1][1] >= 3
    assert slow1[2] == plain[2]  # rank 2 back to a plain line
    assert [label for label, _ in view.plots["rank:loss"].legend] == ["rank 0", "rank 1" + STRAGGLER, "rank 2",
                                                                     "rank 3"]
    assert drawn({"distributed": payload(4, -1)}) == plain


def test_sixty_four_ranks_draw_a_band_under_rank_0_and_the_straggler(view_canvas):
    history = MetricsHistory(capacity=256, names=(), max_series=128)
    history.append("train/loss", STEPS, np.linspace(2.0, 1.0, 200))
    for r in range(64):
        history.append(f"rank{r}/wait_ms", STEPS, np.full(200, float(r)))
    view = MetricsView()
    canvas = view_canvas([view], size=(640, 400))
    canvas.push(Snapshot(run_id=1, step=200, wall_time=0.0, metrics=history, latest={},
                         parts={"distributed": payload(64, 40)}))
    pixels = canvas.render()
    rows, cols = data_area(view, "rank:wait_ms")
    pixels = pixels[rows, cols]
    plot = view.plots["rank:wait_ms"]
    assert [label for label, _ in plot.legend] == ["64 ranks min\u2013max (62 not drawn singly)", "rank 0",
                                                   "rank 40" + STRAGGLER]
    left = pixels[:, : int(0.4 * pixels.shape[1])]
    rgb = np.array([int(BAND_COLOR[i : i + 2], 16) for i in (1, 3, 5)])
    shade = np.all(np.abs(left[..., :3].astype(int) - rgb) < 12, axis=-1)
    covered = np.flatnonzero(shade.any(axis=1))
    assert covered.max() - covered.min() > 0.7 * left.shape[0]  # the band spans rank 0's to rank 63's value
    assert thickness(left, brighter(PALETTE[40 % len(PALETTE)])) >= 3  # the straggler drawn over it
    assert thickness(left, PALETTE[0]) > 0  # and rank 0
