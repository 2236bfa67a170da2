"""A user's own training loop as a run: its model, its sample, its scalars, and who watches it.

`gpuviz_app.attach` makes an `AttachedRun` when a host is listening in this process (a
script run by `gpuviz run`, see `sources.script.ScriptSource`); the host gives it probes and
publishes its snapshots exactly as the built-in session does, so the views cannot tell the
difference. Torch is imported only when a run is made, never by importing this module.

Scalars sent with each step stay on the device: they are written into a small device buffer
(like `Trainer`'s losses) and cross to the host in one transfer per `flush`, so a step never
waits for a device-to-host copy.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Protocol

import numpy as np

from gpuviz_app.core.history import SERIES, MetricsHistory
from gpuviz_app.core.run_context import RunContext, StepHooks

log = logging.getLogger(__name__)

_BUFFER_ROWS = 1024
# Names a script may use for the series the metrics view draws.
ALIASES = {
    "loss": "train_loss", "train/loss": "train_loss", "train_loss": "train_loss",
    "acc": "train_acc", "accuracy": "train_acc", "train/acc": "train_acc", "train_acc": "train_acc",
    "eval/loss": "eval_loss", "val_loss": "eval_loss", "eval_loss": "eval_loss",
    "eval/acc": "eval_acc", "val_acc": "eval_acc", "eval_acc": "eval_acc",
}


class StopScript(BaseException):
    """Raised inside `viz.step` when the host wants the script to stop (`--steps` reached,
    Stop pressed). A BaseException, so a script's `except Exception` does not swallow it,
    while its `finally` blocks still run."""


class RunHost(Protocol):
    """Who watches attached runs in this process (one at a time)."""

    def bind(self, run: "AttachedRun") -> None:
        """A run was attached: make its probes and publish its first snapshot."""

    def after_step(self, run: "AttachedRun") -> None:
        """After each `viz.step`: publish when due; may raise `StopScript` or wait while paused."""

    def unbind(self, run: "AttachedRun") -> None:
        """The run was closed: publish its final snapshot."""


_host: RunHost | None = None
_host_lock = threading.Lock()


def current_host() -> RunHost | None:
    return _host


@contextmanager
def hosting(host: RunHost) -> Iterator[RunHost]:
    """Within this block, `gpuviz_app.attach` binds to `host`."""
    global _host
    with _host_lock:
        if _host is not None:
            raise RuntimeError("another gpuviz host is already listening in this process")
        _host = host
    try:
        yield host
    finally:
        with _host_lock:
            _host = None


def build_context(model: Any, sample: Any, loss_fn: Callable | None, name: str,
                  step_source: Callable[[], int], layers: tuple[str, ...] = ()) -> RunContext:
    """The run context of a user's model: `sample` is `(x, y)` or `x`, moved to the model's device.

    Integer targets of one dimension make a classification run (classes 0..max); float
    targets a regression run; no targets, a run without a loss surface."""
    import torch

    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    if isinstance(sample, (tuple, list)):
        if len(sample) != 2:
            raise ValueError("sample must be x or a pair (x, y)")
        x, y = sample
    else:
        x, y = sample, None
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or len(x) == 0:
        raise ValueError("sample must hold a tensor of at least one row")
    x = x.detach().to(device)
    classes: tuple[str, ...] = ()
    if y is not None:
        y = torch.as_tensor(y).detach().to(device)
        if len(y) != len(x):
            raise ValueError(f"sample: x has {len(x)} rows but y has {len(y)}")
        if y.dim() == 1 and not y.is_floating_point() and not y.is_complex():
            classes = tuple(str(i) for i in range(int(y.max()) + 1))  # one transfer, once
    kind = "images" if x.dim() == 4 and x.shape[1] in (1, 3) and x.is_floating_point() else "vectors"
    host_inputs = x.cpu().numpy() if kind == "images" else None
    return RunContext(model=model, device=device, inputs=x, targets=y, loss_fn=loss_fn, classes=classes,
                      kind=kind, host_inputs=host_inputs, name=name, step_source=step_source,
                      hooks=StepHooks(), layers=layers)


class AttachedRun:
    """One attached run: the context probes see, the step count and the scalar history."""

    def __init__(self, context: RunContext, optimizer: Any = None, name: str = "") -> None:
        import torch

        self.context = context
        self.optimizer = optimizer
        self.name = name or type(context.model).__name__
        self.step_count = 0
        self.history = MetricsHistory()
        self.closed = False
        self.nonfinite_loss: tuple[int, float] | None = None
        self._columns: dict[str, int] = {}
        self._buffer = torch.zeros(_BUFFER_ROWS, 4, device=context.device)
        self._present = np.zeros((_BUFFER_ROWS, 4), bool)
        self._pending = 0
        self._pending_first = 1
        self._ignored: set[str] = set()
        self.started = time.time()

    @property
    def device(self) -> Any:
        return self.context.device

    def record(self, scalars: Mapping[str, Any]) -> None:
        """One step's scalars (tensors stay on the device), then the step hooks."""
        import torch

        row = self._pending
        for key, value in scalars.items():
            if value is None:
                continue
            column = self._column(ALIASES.get(key, key))
            if column is None:
                continue
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    raise ValueError(f"viz.step: {key} must be a single number, not a tensor of shape "
                                     f"{tuple(value.shape)}")
                self._buffer[row, column] = value.detach().reshape(())
            else:
                self._buffer[row, column] = float(value)
            self._present[row, column] = True
        self._pending += 1
        self.step_count += 1
        self.context.hooks.run(self.context)
        if self._pending == _BUFFER_ROWS:
            self.flush()

    def _column(self, name: str) -> int | None:
        column = self._columns.get(name)
        if column is not None:
            return column
        if name not in self.history.names:
            if self.step_count > 0 or self.history.total("train_loss"):
                if name not in self._ignored:
                    self._ignored.add(name)
                    log.warning("scalar %r first sent at step %d is not recorded: send every scalar from "
                                "the first step", name, self.step_count + 1)
                return None
            self.history = MetricsHistory(names=(*self.history.names, name))
        column = self._columns[name] = len(self._columns)
        if column >= self._buffer.shape[1]:
            self._grow()
        return column

    def _grow(self) -> None:
        import torch

        width = self._buffer.shape[1] * 2
        buffer = torch.zeros(_BUFFER_ROWS, width, device=self.device)
        buffer[:, : self._buffer.shape[1]] = self._buffer
        present = np.zeros((_BUFFER_ROWS, width), bool)
        present[:, : self._present.shape[1]] = self._present
        self._buffer, self._present = buffer, present

    def flush(self) -> None:
        """Move the scalars of the steps since the last flush into the history (one transfer)."""
        if not self._pending:
            return
        n = self._pending
        values = self._buffer[:n].cpu().numpy()
        present = self._present[:n].copy()
        self._present[:n] = False
        steps = np.arange(self._pending_first, self._pending_first + n)
        for name, column in self._columns.items():
            rows = present[:, column]
            if not rows.any():
                continue
            if name == "train_loss" and self.nonfinite_loss is None:
                bad = np.flatnonzero(rows & ~np.isfinite(values[:, column]))
                if len(bad):
                    self.nonfinite_loss = (int(steps[bad[0]]), float(values[bad[0], column]))
            self.history.append(name, steps[rows], values[rows, column])
        self._pending_first += n
        self._pending = 0

    def latest(self) -> dict[str, float]:
        h = self.history
        return {name: h.latest(name) for name in h.names if h.total(name)}


__all__ = ["ALIASES", "SERIES", "AttachedRun", "RunHost", "StopScript", "build_context", "current_host",
           "hosting"]
