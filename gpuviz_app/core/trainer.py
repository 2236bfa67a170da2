"""The training loop's body: one optimisation step at a time on data already on the device."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.models import build_model, resolve_model_kind
from gpuviz_app.core.optimizers import make_optimizer
from gpuviz_app.core.run_context import RunContext, StepHook, StepHooks
from gpuviz_app.data.augment import Augmenter
from gpuviz_app.data.device import DeviceDataset, EpochSampler

_LOSS_BUFFER = 4096


class Trainer:
    """Seedable and deterministic on CPU: the same config and data give the same losses.

    Per-step losses stay on the device in a small buffer and cross to the host in one
    transfer per `flush`, so a step never waits for a device-to-host copy; the flush notes the
    first non-finite loss (`nonfinite_loss`) on the host copy, at no extra transfer.

    On the CPU, a CNN's image batches go in channels-last: the CPU's pooling kernels vectorise
    over channels in that layout, so a step is faster (the weights keep their own layout).

    `context` is the run as probes see it (`RunContext`); `hooks` are its step hooks.
    """

    def __init__(self, data: DeviceDataset, config: TrainConfig) -> None:
        self.data = data
        self.config = config
        self.device = data.device
        self.model_kind = resolve_model_kind(config.model, data.kind, data.input_shape)
        self.model = build_model(self.model_kind, data.input_shape, data.num_classes, config.seed).to(self.device)
        self.optimizer = make_optimizer(config.optimizer, self.model.parameters(), config)
        self.sampler = EpochSampler(data.train_idx, config.seed)
        self.augment = Augmenter(data.kind, self.device, config.seed)
        self.loss_fn = nn.CrossEntropyLoss()
        self.history = MetricsHistory()
        self.step_count = 0
        self._losses = torch.zeros(_LOSS_BUFFER, 2, device=self.device)  # loss, batch accuracy
        self._pending = 0
        self._pending_first = 1
        self.nonfinite_loss: tuple[int, float] | None = None  # (step, loss) of the first NaN/inf loss
        self.hooks = StepHooks()
        cnn_on_cpu = self.device.type == "cpu" and self.model_kind == "cnn"
        self._layout = torch.channels_last if cnn_on_cpu else torch.preserve_format
        self.context = RunContext(
            model=self.model, device=self.device, inputs=data.x, targets=data.y, loss_fn=self.loss_fn,
            eval_rows=data.eval_idx, classes=tuple(data.classes), kind=data.kind, host_inputs=data.source.x,
            name=data.name, step_source=lambda: self.step_count, hooks=self.hooks,
        )

    @property
    def hook_time(self) -> float:
        """Seconds spent in step hooks (part of the training time)."""
        return self.hooks.time

    def add_step_hook(self, fn: StepHook) -> Callable[[], None]:
        """Call `fn(context)` after every optimisation step; returns its remover (see `StepHooks`)."""
        return self.hooks.add(fn)

    def step(self) -> None:
        if self.step_count == 0 and self.history.total("eval_loss") == 0:
            self.evaluate()
        idx = self.sampler.next(self.config.batch_size)
        self.model.train()
        x = self.augment(self.data.x[idx], self.config.augment).to(memory_format=self._layout)
        y = self.data.y[idx]
        out = self.model(x)
        loss = self.loss_fn(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self._losses[self._pending, 0] = loss.detach()
        self._losses[self._pending, 1] = (out.detach().argmax(dim=1) == y).float().mean()  # no host sync
        self._pending += 1
        self.step_count += 1
        if self.hooks:
            self.hooks.run(self.context)
        if self._pending == _LOSS_BUFFER:
            self.flush()
        if self.step_count % self.config.eval_every == 0:
            self.evaluate()

    def train(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def flush(self) -> None:
        """Move the losses logged since the last flush into the history (one transfer)."""
        if not self._pending:
            return
        values = self._losses[: self._pending].cpu().numpy()
        steps = np.arange(self._pending_first, self._pending_first + self._pending)
        if self.nonfinite_loss is None:
            bad = np.flatnonzero(~np.isfinite(values[:, 0]))
            if len(bad):
                self.nonfinite_loss = (int(steps[bad[0]]), float(values[bad[0], 0]))
        self.history.append("train_loss", steps, values[:, 0])
        self.history.append("train_acc", steps, values[:, 1])
        self._pending_first += self._pending
        self._pending = 0

    @torch.no_grad()
    def weights_finite(self) -> bool:
        """Whether every parameter is finite: one reduction on the device and one transfer."""
        checks = [torch.isfinite(p).all() for p in self.model.parameters()]
        return bool(torch.stack(checks).all()) if checks else True

    @torch.no_grad()
    def evaluate(self, chunk: int = 4096) -> dict[str, float]:
        """Loss and accuracy on the held-out split, recorded at the current step."""
        idx = self.data.eval_idx
        if len(idx) == 0:
            return {}
        self.model.eval()
        total = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        for start in range(0, len(idx), chunk):
            part = idx[start : start + chunk]
            out = self.model(self.data.x[part].to(memory_format=self._layout))
            y = self.data.y[part]
            total += nn.functional.cross_entropy(out, y, reduction="sum")
            correct += (out.argmax(dim=1) == y).sum()
        result = torch.stack([total / len(idx), correct.to(total.dtype) / len(idx)]).cpu().tolist()
        step = np.array([self.step_count])
        self.history.append("eval_loss", step, np.array([result[0]]))
        self.history.append("eval_acc", step, np.array([result[1]]))
        return {"eval_loss": result[0], "eval_acc": result[1]}

    def set_lr(self, lr: float) -> None:
        self.config = self.config.with_changes(lr=lr)
        self.optimizer.lr = lr

    def set_batch_size(self, batch_size: int) -> None:
        self.config = self.config.with_changes(batch_size=max(1, int(batch_size)))

    def set_optimizer(self, name: str) -> None:
        """Switch optimiser in place; its state (momentum, moments) starts afresh."""
        self.config = self.config.with_changes(optimizer=name)
        self.optimizer = make_optimizer(name, self.model.parameters(), self.config)

    def latest(self) -> dict[str, float]:
        h = self.history
        return {name: h.latest(name) for name in h.names}
