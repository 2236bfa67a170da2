"""A user's own training loop as a run: its model, its sample, its scalars, and who watches it.

`gpuviz_app.attach` makes an `AttachedRun` when a host is listening in this process (a
script run by `gpuviz run`, see `sources.script.ScriptSource`); the host gives it probes and
publishes its snapshots exactly as the built-in session does, so the views cannot tell the
difference. Torch is imported only when a run is made, never by importing this module.

Scalars sent with each step stay on the device: they are written into a small device buffer
(like `Trainer`'s losses) and cross to the host in one transfer per `flush`, so a step never
waits for a device-to-host copy. Any name may be sent at any step: a new name gets a column
(the buffer doubles its columns on the device when full) and a series in the history, up to
the history's cap on series.
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

_BUFFER_ROWS = 1024  # steps between transfers at most (the host also flushes at each publish)
_FIRST_COLUMNS = 4  # scalars per step before the buffers grow (doubling, up to the history's cap)
_ON_DEVICE, _ON_HOST = 1, 2
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
        self._tensor_type = torch.Tensor  # (`record` runs at every step: no import there)
        self.optimizer = optimizer
        self.name = name or type(context.model).__name__
        self.step_count = 0
        self.history = MetricsHistory(names=())  # a series for each name the script sends
        self.closed = False
        self.nonfinite_loss: tuple[int, float] | None = None
        self._columns: dict[str, int] = {}
        # Tensors on an accelerator go into a device buffer (no sync per step), plain numbers and
        # CPU tensors into a host one;
        # `_source` says which holds each (row, column): 0 neither, _ON_DEVICE or _ON_HOST.
        self._buffer = torch.zeros(_BUFFER_ROWS, _FIRST_COLUMNS, device=context.device)
        self._host = np.zeros((_BUFFER_ROWS, _FIRST_COLUMNS))
        self._source = np.zeros((_BUFFER_ROWS, _FIRST_COLUMNS), np.int8)
        self._on_device = False  # whether a tensor was written since the last flush
        self._pending = 0
        self._pending_first = 1
        self._ignored: set[str] = set()
        self.started = time.time()
        # Also told every (name, steps, values) moved into the history (a sender to another process).
        self.row_sink: Callable[[str, np.ndarray, np.ndarray], None] | None = None
        # Called at each `flush`, first: who keeps rows of their own to append (a job's leader).
        self.row_sources: list[Callable[[], None]] = []

    @property
    def device_name(self) -> str:
        from gpuviz_app.core.device import device_name

        return device_name(self.device)

    @property
    def diverged(self) -> str:
        """One line saying at which step the loss turned non-finite ("" while it has not)."""
        if self.nonfinite_loss is None:
            return ""
        step, loss = self.nonfinite_loss
        return f"training diverged at step {step}: the loss is {'NaN' if loss != loss else 'infinite'}"

    @property
    def device(self) -> Any:
        return self.context.device

    def record(self, scalars: Mapping[str, Any], advance: bool = True) -> None:
        """One step's scalars (tensors stay on the device), then the step hooks; with `advance`
        False, scalars of the step already taken (an evaluation after it): no new step, no hooks."""
        if advance:
            row = self._pending
        else:
            if not self._pending:  # that step was flushed: reopen a row for it, empty
                self._pending_first -= 1
                self._pending = 1
            row = self._pending - 1
        for key, value in scalars.items():
            if value is None:
                continue
            if isinstance(value, self._tensor_type):
                if value.numel() != 1:
                    raise ValueError(f"viz.step: {key} must be a single number, not a tensor of shape "
                                     f"{tuple(value.shape)}")
                column = self._column(ALIASES.get(key, key))
                if column is None:
                    continue
                if value.device.type == "cpu":  # read at once: nothing to wait for, and far cheaper than a copy
                    self._host[row, column] = value.item()
                    self._source[row, column] = _ON_HOST
                    continue
                self._buffer[row, column] = value.detach().reshape(())
                self._source[row, column] = _ON_DEVICE
                self._on_device = True
            else:
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    raise ValueError(f"viz.step: {key} must be a number or a one-element tensor, "
                                     f"not {type(value).__name__}") from None
                column = self._column(ALIASES.get(key, key))
                if column is None:
                    continue
                self._host[row, column] = number
                self._source[row, column] = _ON_HOST
        if not advance:
            return
        self._pending += 1
        self.step_count += 1
        self.context.hooks.run(self.context)
        if self._pending == _BUFFER_ROWS:
            self.flush()

    def _column(self, name: str) -> int | None:
        column = self._columns.get(name)
        if column is not None:
            return column
        if name in self._ignored or not self.history.reserve(name):  # the history says why, once
            if len(self._ignored) < 1024:
                self._ignored.add(name)
            return None
        column = self._columns[name] = len(self._columns)
        if column >= self._buffer.shape[1]:
            self._grow()
        return column

    def _grow(self) -> None:
        """Twice the columns: a device-to-device copy, no wait for the device."""
        import torch

        width = self._buffer.shape[1] * 2
        buffer = torch.zeros(_BUFFER_ROWS, width, device=self.device)
        buffer[:, : self._buffer.shape[1]] = self._buffer
        host = np.zeros((_BUFFER_ROWS, width))
        host[:, : self._host.shape[1]] = self._host
        source = np.zeros((_BUFFER_ROWS, width), np.int8)
        source[:, : self._source.shape[1]] = self._source
        self._buffer, self._host, self._source = buffer, host, source

    def flush(self) -> None:
        """Move the scalars of the steps since the last flush into the history (at most one
        transfer from the device, none when only plain numbers were sent)."""
        for read_rows in self.row_sources:
            read_rows()
        if not self._pending:
            return
        n = self._pending
        device_values = self._buffer[:n].cpu().numpy() if self._on_device else None
        source = self._source[:n].copy()
        self._source[:n] = 0
        self._on_device = False
        steps = np.arange(self._pending_first, self._pending_first + n)
        for name, column in self._columns.items():
            where = source[:, column]
            rows = where != 0
            if not rows.any():
                continue
            values = self._host[:n, column]
            if device_values is not None:
                values = np.where(where == _ON_DEVICE, device_values[:, column], values)
            if name == "train_loss" and self.nonfinite_loss is None:
                bad = np.flatnonzero(rows & ~np.isfinite(values))
                if len(bad):
                    self.nonfinite_loss = (int(steps[bad[0]]), float(values[bad[0]]))
            self.append_rows(name, steps[rows], values[rows])
        self._pending_first += n
        self._pending = 0

    def append_rows(self, name: str, steps: np.ndarray, values: np.ndarray) -> None:
        """Values at `steps` (in order, after the series' last step) into series `name`, and to
        whoever the rows are also sent to; for rows made outside `record` (a distributed job's
        per-rank figures)."""
        self.history.append(name, steps, values)
        if self.row_sink is not None:
            self.row_sink(name, steps, values)

    def latest(self) -> dict[str, float]:
        h = self.history
        return {name: h.latest(name) for name, total in h.totals().items() if total}


__all__ = ["ALIASES", "SERIES", "AttachedRun", "RunHost", "StopScript", "build_context", "current_host",
           "hosting"]
