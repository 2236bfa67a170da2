"""What the trainer hands to the display: small, already-reduced values of one moment.

Kept free of torch imports so that the display side can name it without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuviz_app.core.history import MetricsHistory


@dataclass(frozen=True)
class Snapshot:
    """State of a run at `step`.

    `parts` holds each probe's latest payload (tensors on the training device, reduced
    there); `versions[name]` grows whenever that payload was recomputed, so a view uploads
    only what changed. `event` is the CUDA event recorded after the reductions (None on
    CPU): a consumer on another stream waits on it before reading `parts`.
    """

    run_id: int
    step: int
    wall_time: float
    metrics: MetricsHistory
    latest: dict[str, float]
    parts: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    event: Any = None
    device: str = "cpu"
    device_name: str = "CPU"
    dataset: str = ""
    steps_per_s: float = 0.0
    paused: bool = False
    finished: bool = False
    model: str = ""
    error: str = ""
    config: Any = None
    diverged_step: int | None = None  # the step whose loss or weights first turned non-finite
    diverged: str = ""  # one line saying what diverged and when, for the views and the status line

    def version(self, name: str) -> int:
        return self.versions.get(name, 0)
