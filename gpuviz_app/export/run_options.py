"""What headless `gpuviz run` is asked to do, as one plain object (no argparse past `cli.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunScriptOptions:
    """`script` runs with `args` as its `sys.argv[1:]`; `steps` None lets it run to its end.
    `view` is a view name or "dashboard"; `size` None takes the view's own render size."""

    script: str
    args: list[str] = field(default_factory=list)
    steps: int | None = None
    view: str = "metrics"
    out: str | None = None
    screenshot: str | None = None
    size: tuple[int, int] | None = None
    fps: float = 30.0
    every: int | None = None
    force: bool = False
