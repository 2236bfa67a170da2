"""What a probe may see of a run: a model, its data sample and a step hook, never a trainer.

The built-in `Trainer`, a user's script on the training thread and a script attached from
another process all describe their run with one `RunContext`, so the same probes (and so
the same views) work on any `nn.Module`, any loss and any data. Kept free of torch imports
so that the window can name it before torch loads; the tensors it carries are torch's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

StepHook = Callable[["RunContext"], None]


class StepHooks:
    """Functions called after every optimisation step (gradients still in `.grad`, under
    no_grad). A hook must not read values back to the host: it runs on the training loop's
    hot path. `time` is what they cost, part of the training time."""

    def __init__(self) -> None:
        self._hooks: list[StepHook] = []
        self._grad_mode: tuple[Callable[[], bool], Callable[[bool], Any]] | None = None  # torch's, once loaded
        self.time = 0.0

    def add(self, fn: StepHook) -> Callable[[], None]:
        """Add `fn`; returns a function that removes it again."""
        self._hooks.append(fn)
        return lambda: self._hooks.remove(fn) if fn in self._hooks else None

    def __bool__(self) -> bool:
        return bool(self._hooks)

    def __len__(self) -> int:
        return len(self._hooks)

    def run(self, context: "RunContext") -> None:
        if not self._hooks:
            return
        if self._grad_mode is None:
            import torch

            self._grad_mode = (torch.is_grad_enabled, torch.set_grad_enabled)
        is_enabled, set_enabled = self._grad_mode
        start = time.perf_counter()
        enabled = is_enabled()
        set_enabled(False)  # what `no_grad` does, without making its objects each step of the hot path
        try:
            for hook in list(self._hooks):
                hook(context)
        finally:
            set_enabled(enabled)
        self.time += time.perf_counter() - start


@dataclass
class RunContext:
    """One run as probes see it.

    `inputs` (N, ...) and `targets` (N,) or (N, ...) are on `device`: the pool probes draw
    their fixed samples from (the embedding's points, the loss surface's evaluation batch).
    `eval_rows` indexes the held-out rows of that pool (None: every row may be used).
    `targets` is None when only inputs were given; `classes` is empty for regression.
    `host_inputs` are the raw inputs on the host (images in [0, 1]) for thumbnails, if any.
    `step` is read through `step_source`, so it is always the run's current step.
    `layers`: glob patterns of the parameter names the weights view tracks (empty: all).
    `budget_scale`: the part of their usual budgets the probes may spend; below 1 where a
    second a probe takes holds up more than this process (a distributed job's leader: every
    other rank waits for it in the next collective).
    """

    model: Any
    device: Any
    inputs: Any
    targets: Any = None
    loss_fn: Callable[[Any, Any], Any] | None = None
    eval_rows: Any = None
    classes: tuple[str, ...] = ()
    kind: str = "vectors"
    host_inputs: Any = None
    name: str = ""
    step_source: Callable[[], int] = field(default=lambda: 0, repr=False)
    hooks: StepHooks = field(default_factory=StepHooks, repr=False)
    layers: tuple[str, ...] = ()
    budget_scale: float = 1.0

    @property
    def step(self) -> int:
        return int(self.step_source())

    @property
    def classification(self) -> bool:
        return bool(self.classes)

    def add_step_hook(self, fn: StepHook) -> Callable[[], None]:
        """Call `fn(context)` after every optimisation step; returns its remover."""
        return self.hooks.add(fn)

    def evaluation_rows(self, size: int) -> Any:
        """Up to `size` row indices for evaluating a loss: held-out rows first when there are any."""
        import torch

        rows = self.eval_rows
        if rows is None or len(rows) == 0:
            rows = torch.arange(len(self.inputs), device=self.inputs.device)
        return rows[:size]

    def predictions(self, outputs: Any) -> Any:
        """One float per row for colouring: the arg-max class of a classifier, else the first output."""
        import torch

        flat = outputs.reshape(outputs.shape[0], -1)
        if self.classification and flat.shape[1] > 1:
            return flat.argmax(dim=1).to(torch.float32)
        return flat[:, 0].to(torch.float32)
