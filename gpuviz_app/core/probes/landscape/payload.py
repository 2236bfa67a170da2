"""What the landscape probe hands to the display, and the options it takes (torch-free).

Besides its options the probe takes one action, `RECENTRE`: a new grid around the weights
as they are now. It re-centres by itself too: every `recentre_every` steps, once the weights
have drifted `recentre_drift` of the grid's reach from its centre, and when the run ends."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

MODES = ("random", "pca", "slice")
RESOLUTIONS = (11, 21, 31, 41, 51, 61, 81, 101)
EVAL_BATCHES = (64, 128, 256, 512, 1024, 2048)
RECENTRE_EVERY = (100, 250, 500, 1000, 5000, 0)  # 0: only on demand
SPANS = (0.1, 0.25, 0.5, 1.0, 2.0)
RECENTRE = "recentre"  # the action: centre a new grid on the current weights


@dataclass(frozen=True)
class LandscapeOptions:
    mode: str = "random"          # random: two filter-normalised directions; pca: of the path; slice: 1-D
    resolution: int = 31          # points per side of the finest grid
    eval_batch: int = 256         # samples the loss is measured on (fixed for the run)
    span: float = 1.0             # the grid covers [-span, span] along each random direction
    include_bias: bool = False    # move biases and normalisation parameters too
    recentre_every: int = 500     # steps between re-centres (0: only on demand: the "recentre" action)
    recentre_drift: float = 0.25  # re-centre once the weights are this far from the centre, in grid reaches (0: never)
    seed: int = 0                 # of the random directions

    def with_changes(self, changes: dict) -> "LandscapeOptions":
        """Known, well-typed keys only; values outside the choices are ignored."""
        ok = {}
        for f in fields(self):
            if f.name not in changes:
                continue
            v = changes[f.name]
            want = type(getattr(self, f.name))
            if want is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if isinstance(v, want) and (want is bool or not isinstance(v, bool)):
                ok[f.name] = v
        new = replace(self, **ok)
        if new.mode not in MODES or not 3 <= new.resolution <= 201 or new.resolution % 2 == 0 \
                or new.eval_batch < 1 or not new.span > 0 or new.recentre_every < 0 \
                or not new.recentre_drift >= 0:
            return self
        return new


@dataclass(frozen=True)
class LandscapePayload:
    """The latest grid (complete or still refining) and the path measured around it.

    `grid` holds raw losses at full resolution (n x n, or n for a slice) on the training
    device; levels not yet computed are interpolated from the coarser ones. Diverged points
    hold a huge finite value; `clip` is where the display should stop drawing height. `path`
    rows are (alpha, beta, loss measured at those weights) with the loss from the same
    evaluation batch as the grid; its last row is the current point.
    """

    mode: str = "random"
    state: str = "idle"             # idle | computing | done | cancelled | error
    grid: Any = None
    resolution: int = 0
    finished_side: int = 0          # points per side of the finest complete level
    progress: float = 0.0           # fraction of the grid's points evaluated
    span: tuple[float, float] = (1.0, 1.0)
    centre_step: int = -1
    centre_loss: float = math.nan
    low: float = math.nan           # the lowest loss on the grid so far
    clip: float = math.nan          # losses above are drawn at this height (low..clip: the colour scale)
    path: Any = None                # (m, 3) float32
    path_steps: tuple[int, ...] = ()
    axis_labels: tuple[str, ...] = ("dir 1", "dir 2")
    eval_batch: int = 0
    grid_version: int = 0
    path_version: int = 0
    step: int = 0
    message: str = ""
    seconds: float = 0.0            # spent on the current grid so far
    extra: dict = field(default_factory=dict)

    def with_step(self, step: int) -> "LandscapePayload":
        return replace(self, step=step)
