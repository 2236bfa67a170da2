"""What the command line asks of the window, as one plain object (no argparse past `cli.py`)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LaunchOptions:
    """`path` is None (the last dataset, else the digits), one path, or several forming one
    dataset. `train_changes` holds only the training settings given on the command line:
    they win over the ones the last session saved. `views` opens those docks side by side.
    `force` lets `screenshot` replace an existing file. `script` (`gpuviz run`) runs that
    training script with `script_args` instead of the built-in training, `steps` then
    stopping it at its N-th `viz.step`."""

    path: str | list[str] | None = None
    device: str = "auto"
    steps: int | None = None
    quit_when_done: bool = False
    screenshot: str | None = None
    force: bool = False
    views: tuple[str, ...] | None = None
    train_changes: dict[str, Any] = field(default_factory=dict)
    script: str | None = None
    script_args: tuple[str, ...] = ()
    listen: str | None = None  # scripts in other processes: "" the default address, None not at all
    run: str | None = None  # `gpuviz open`: a stored run or TensorBoard log shown instead of training
    compare: tuple[str, ...] = ()  # `gpuviz open A B ...`: runs compared in lockstep, in a window of their own

    @property
    def scripted(self) -> bool:
        """A run that exits by itself: it starts from the default training settings and dataset
        (not the last session's) and saves nothing the user arranged."""
        return self.quit_when_done


def display_available() -> bool:
    """Whether a window can be shown: on Linux and the BSDs an X or Wayland display must be named."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
