"""What `gpuviz record` is asked to do, as one plain object (no argparse past `cli.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Below this a view's titles and tick labels fill the picture and its plot has no room left.
MIN_SIDE, MAX_SIDE = 128, 16384


@dataclass(frozen=True)
class RecordOptions:
    """`view` is a view name or "dashboard"; `size` None takes the view's own render size.
    `train_changes` holds the training settings given on the command line."""

    steps: int
    view: str = "metrics"
    path: str | list[str] | None = None
    out: str | None = None
    screenshot: str | None = None
    csv: str | None = None
    size: tuple[int, int] | None = None
    fps: float = 30.0
    every: int | None = None
    scale: float = 1.0
    force: bool = False
    device: str = "auto"
    train_changes: dict[str, Any] = field(default_factory=dict)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'WxH' in pixels; raises ValueError with a sentence naming the setting."""
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size expects WxH, like 1280x720, not {text!r}") from None
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ValueError(f"--size {text} is too small: a view needs at least {MIN_SIDE}x{MIN_SIDE} pixels "
                         "to show its plot")
    if not (w <= MAX_SIDE and h <= MAX_SIDE):
        raise ValueError(f"--size {text} is outside {MIN_SIDE}..{MAX_SIDE} pixels")
    return w, h


StepRange = tuple[int | None, int | None]  # first and last step, both included; None leaves that end open


@dataclass(frozen=True)
class StoredRecordOptions:
    """`gpuviz record --from-run RUN`: a stored run's frames drawn again, with no training.
    `every` None keeps every stored frame in `steps`."""

    run: str
    view: str = "metrics"
    steps: StepRange = (None, None)
    out: str | None = None
    screenshot: str | None = None
    csv: str | None = None
    size: tuple[int, int] | None = None
    fps: float = 30.0
    every: int | None = None
    scale: float = 1.0
    force: bool = False


def parse_step_range(text: str | None, setting: str = "--steps") -> StepRange:
    """'A:B' (both included), 'A:' or ':B'; raises ValueError with a sentence naming the setting."""
    if text is None:
        return None, None
    first, colon, last = text.partition(":")
    try:
        if not colon:
            raise ValueError
        ends = tuple(int(end) if end.strip() else None for end in (first, last))
    except ValueError:
        raise ValueError(f"{setting} expects a range of steps A:B, like 100:500 (either end may be left out), "
                         f"not {text!r}") from None
    if any(end is not None and end < 0 for end in ends):
        raise ValueError(f"{setting} {text}: steps are counted from 0")
    if ends[0] is not None and ends[1] is not None and ends[0] > ends[1]:
        raise ValueError(f"{setting} {text}: the first step comes after the last")
    return ends
