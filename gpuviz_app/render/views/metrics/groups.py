"""Which plot each scalar goes on, and how it is drawn there.

The built-in trainer's four series keep their two plots: Loss (train line, eval points) and
Accuracy. A script's scalars join them by name: `train/<q>` and `eval/<q>` (also `val`,
`valid`, `validation`, `test`, and `_` as the separator) share a plot per quantity <q>, with
losses on the Loss plot and accuracies on the Accuracy plot, training values as a line and
the others as points (evaluations are sparse; a line between two of them would read as
measured progress). Any other prefix (`optim/lr`, `optim/momentum`) is one plot, and a name
without a prefix (`grad_norm`) has its own plot: unrelated scalars have unrelated scales.

A distributed job's per-rank series `rank<r>/<q>` share a plot per quantity <q> ("loss per
rank"), a line per rank in rank order; the rank the others wait for (the straggler) is drawn
thicker and brighter and says so in the legend.

Runs compared side by side (`runs`: the history's series are named `run_series(i, name)`) share
the plots their series would have alone: each run in a colour of its own, its name in the legend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from gpuviz_app.store.compare import split_run_series

LINE, POINTS, BAND = "line", "points", "band"  # BAND: every column's min..max over `members`
LOSS, ACCURACY, MORE = "loss", "accuracy", "more"
MAX_PLOTS = 12  # groups beyond the 11th share the last plot

COLORS = {"train_loss": "#88c0d0", "eval_loss": "#ebcb8b", "train_acc": "#70a080", "eval_acc": "#a3be8c"}
# Colours for other series, in order within a plot (none close to the divergence mark's red).
PALETTE = ("#88c0d0", "#ebcb8b", "#b48ead", "#d08770", "#a3be8c", "#6f8fce", "#8fbcbb", "#e39ac0",
           "#c8b48a", "#9ea7b8")
BUILTIN = {  # name: (plot, legend label, style)
    "train_loss": (LOSS, "train", LINE), "eval_loss": (LOSS, "eval points", POINTS),
    "train_acc": (ACCURACY, "train (batch)", LINE), "eval_acc": (ACCURACY, "eval points", POINTS),
}
STAGES = {"train": LINE, "eval": POINTS, "val": POINTS, "valid": POINTS, "validation": POINTS, "test": POINTS}
ACCURACY_NAMES = ("acc", "accuracy", "top1", "top1_acc", "top5", "top5_acc")


WIDTH, HIGHLIGHT_WIDTH = 1.5, 4.0  # line widths (pixels): a series, and the straggler's
RANK = re.compile(r"rank(\d+)/(.+)")
RANK_TITLES = {"loss": "loss per rank", "steps_per_s": "steps/s per rank",
               "wait_ms": "waiting in collectives per rank (ms)"}
MAX_RANK_LINES = 8  # more ranks than this: a band over all of them, rank 0 and the straggler
BAND_COLOR = "#5c6a85"  # dim: the band is the backdrop the drawn ranks stand out from
STRAGGLER_NOTE = " \u00b7 straggler (others wait for it)"
RUN_COLORS = ("#88c0d0", "#ebcb8b", "#b48ead", "#a3be8c", "#d08770", "#6f8fce", "#e39ac0", "#8fbcbb")


@dataclass(frozen=True)
class SeriesLook:
    name: str  # the history's series name (a BAND's own name, not in the history)
    label: str  # legend text
    style: str  # LINE, POINTS or BAND
    color: str
    width: float = WIDTH
    members: tuple[str, ...] = ()  # the history's series a BAND spans

    @property
    def sources(self) -> tuple[str, ...]:
        return self.members or (self.name,)


@dataclass(frozen=True)
class PlotGroup:
    key: str
    title: str
    series: tuple[SeriesLook, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The series drawn (a band counts once)."""
        return tuple(s.name for s in self.series)

    @property
    def sources(self) -> tuple[str, ...]:
        """The history's series the plot shows, a band's members included."""
        return tuple(dict.fromkeys(n for s in self.series for n in s.sources))


def stage_split(name: str) -> tuple[str, str] | None:
    """(stage, quantity) of `train/loss`, `val_acc`, `test.f1`; None for other names."""
    lowered = name.lower()
    for stage in STAGES:
        if lowered.startswith(stage) and len(name) > len(stage) + 1 and name[len(stage)] in "/_.-":
            return stage, name[len(stage) + 1:]
    return None


def place(name: str) -> tuple[str, str, str, str]:
    """(plot key, plot title, legend label, style) of series `name`."""
    ranked = RANK.fullmatch(name)
    if ranked:
        rank, quantity = int(ranked.group(1)), ranked.group(2)
        return f"rank:{quantity}", RANK_TITLES.get(quantity, f"{quantity} per rank"), f"rank {rank}", LINE
    if name in BUILTIN:
        key, label, style = BUILTIN[name]
        return key, "Accuracy" if key == ACCURACY else "Loss", label, style
    split = stage_split(name)
    if split is not None:
        stage, quantity = split
        q = quantity.lower()
        if "loss" in q:
            return LOSS, "Loss", name, STAGES[stage]
        if q in ACCURACY_NAMES or q.startswith("acc"):
            return ACCURACY, "Accuracy", name, STAGES[stage]
        return f"quantity:{q}", quantity, name, STAGES[stage]
    prefix, sep, rest = name.partition("/")
    if sep and prefix and rest:  # the title says the prefix; the legend tells the series apart
        return f"prefix:{prefix}", f"{prefix}/", rest, LINE
    return f"name:{name}", name, name, LINE


def plot_groups(names: Sequence[str], loss_title: str = "Loss", max_plots: int = MAX_PLOTS,
                straggler: int = -1, runs: Sequence[str] = ()) -> list[PlotGroup]:
    """The plots for series `names` (in the order they were created): Loss and Accuracy first,
    then the others by first appearance. No names at all: an empty Loss plot (saying so).
    `straggler`: the rank whose per-rank lines are highlighted, -1 for none. `runs`: the names of
    the runs compared, when `names` are their series (`run_series`): coloured by run."""
    titles: dict[str, str] = {}
    members: dict[str, list[tuple[str, str, str]]] = {}
    for name in names:
        run = split_run_series(name) if runs else None
        key, title, label, style = place(run[1] if run else name)
        if run is not None:
            label = f"{runs[run[0]]} \u00b7 {label}" if run[0] < len(runs) else label
        titles.setdefault(key, title)
        members.setdefault(key, []).append((name, label, style))
    if not members:
        return [PlotGroup(LOSS, loss_title, ())]
    titles[LOSS] = loss_title
    keys = [k for k in (LOSS, ACCURACY) if k in members] + [k for k in members if k not in (LOSS, ACCURACY)]
    if len(keys) > max_plots:
        rest = keys[max_plots - 1:]
        keys = keys[: max_plots - 1] + [MORE]
        members[MORE] = [(name, name, style) for k in rest for name, _, style in members[k]]
        titles[MORE] = f"{len(rest)} more groups"
    if runs:
        return [PlotGroup(k, titles[k], run_looks(members[k])) for k in keys]
    return [PlotGroup(k, titles[k], rank_looks(members[k], straggler) if k.startswith("rank:")
                      else _colored(members[k])) for k in keys]


def run_looks(members: list[tuple[str, str, str]]) -> tuple[SeriesLook, ...]:
    """Compared runs' series: each in its run's colour (a line or points, as alone)."""
    looks = []
    for name, label, style in members:
        run = split_run_series(name)
        index = run[0] if run is not None else 0
        looks.append(SeriesLook(name, label, style, RUN_COLORS[index % len(RUN_COLORS)]))
    return tuple(looks)


def rank_looks(members: list[tuple[str, str, str]], straggler: int) -> tuple[SeriesLook, ...]:
    """A line per rank, in rank order, coloured from the palette by rank; the straggler's
    thicker, brighter and named in the legend.

    Beyond `MAX_RANK_LINES` ranks, single lines stop being readable, and the first N would
    hide exactly the outliers that matter. So the plot draws a band spanning every rank's
    min..max (no rank's extreme is hidden), over it rank 0's line (the leader, whose replica
    the other views show) and the straggler's, and the band's legend entry counts the ranks
    not drawn singly.
    """
    by_rank = sorted((int(RANK.fullmatch(name).group(1)), name) for name, _, _ in members)
    if len(by_rank) <= MAX_RANK_LINES:
        drawn = by_rank
        looks: list[SeriesLook] = []
    else:
        drawn = [(r, name) for r, name in by_rank if r in (by_rank[0][0], straggler)]
        quantity = RANK.fullmatch(by_rank[0][1]).group(2)
        hidden = len(by_rank) - len(drawn)
        looks = [SeriesLook(f"ranks/{quantity}", f"{len(by_rank)} ranks min\u2013max ({hidden} not drawn singly)",
                            BAND, BAND_COLOR, members=tuple(name for _, name in by_rank))]
    for rank, name in drawn:
        color = PALETTE[rank % len(PALETTE)]
        if rank == straggler:
            looks.append(SeriesLook(name, f"rank {rank}{STRAGGLER_NOTE}", LINE, brighter(color), HIGHLIGHT_WIDTH))
        else:
            looks.append(SeriesLook(name, f"rank {rank}", LINE, color))
    return tuple(looks)


def brighter(color: str, toward_white: float = 0.5) -> str:
    """`color` (#rrggbb) mixed with white."""
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * toward_white):02x}" for c in rgb)


def _colored(members: list[tuple[str, str, str]]) -> tuple[SeriesLook, ...]:
    taken = {COLORS[name] for name, _, _ in members if name in COLORS}
    free = [c for c in PALETTE if c not in taken] or list(PALETTE)
    out, i = [], 0
    for name, label, style in members:
        if name in COLORS:
            color = COLORS[name]
        else:
            color, i = free[i % len(free)], i + 1
        out.append(SeriesLook(name, label, style, color))
    return tuple(out)
