"""PyTorch Lightning: watch a LightningModule train by adding one callback.

```python
from gpuviz_app.integrations.lightning import GpuvizCallback
trainer = lightning.Trainer(callbacks=[GpuvizCallback()])   # run with `gpuviz run`, or plain python
```

The module is attached on the first training batch (its first rows are the views' sample
unless `sample` is given) and steps at each `on_train_batch_end` with the batch's loss and
the metrics the module logs with `self.log`; an evaluation logged during validation is
recorded at the step it followed. Values stay tensors on the device: nothing is read back
per step. The run closes when training ends or raises (a `gpuviz run --steps` stop
included). Importing this module imports Lightning, so gpuviz_app never imports it itself.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

try:
    import torch
    from lightning.pytorch import Callback
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("gpuviz_app.integrations.lightning needs Lightning 2 or later: "
                      "pip install 'gpuviz-app[lightning]'") from exc

import gpuviz_app as gv

SAMPLE_ROWS = 512  # rows of the first batch kept as the views' sample


class GpuvizCallback(Callback):
    """Sends the module, its loss and its logged metrics to gpuviz.

    `sample` is `(x, y)` or `x` (default: up to `sample_rows` rows of the first batch, when
    the batch is a tensor or a sequence starting with inputs and targets). `loss_fn` makes the
    loss surface (default: the module's `loss_fn` or `criterion` attribute, if it has one).
    `name`, `layers` and any other keyword go to `gpuviz_app.attach`."""

    def __init__(self, sample: Any = None, loss_fn: Callable[[Any, Any], Any] | None = None, name: str = "",
                 layers: str | Sequence[str] | None = None, sample_rows: int = SAMPLE_ROWS,
                 **attach_options: Any) -> None:
        super().__init__()
        self.sample = sample
        self.loss_fn = loss_fn
        self.name = name
        self.layers = layers
        self.sample_rows = sample_rows
        self.attach_options = attach_options
        self.run: gv.Run | None = None
        self._sent: dict[str, Any] = {}  # the tensor last sent under each name
        self._per_step: set[str] = set()  # names sent by training steps

    # -- Lightning's hooks ----------------------------------------------------------------------
    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not trainer.is_global_zero:  # one rank publishes
            return
        if self.run is None:
            self.run = self._attach(trainer, pl_module, batch)
        loss = _loss_of(outputs)
        scalars = self._fresh(trainer.callback_metrics)
        self._per_step.update(scalars)
        if loss is not None:  # the batch's own loss wins over a logged one of the same meaning
            scalars = {k: v for k, v in scalars.items() if k not in ("loss", "train_loss", "train/loss")}
        self.run.step(loss=loss, **scalars)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if self.run is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        # Lightning files the last step's metrics anew after the step's hooks: not an evaluation
        scalars = {k: v for k, v in self._fresh(trainer.callback_metrics).items() if k not in self._per_step}
        if scalars:
            self.run.log(**scalars)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.close()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.close()

    def close(self) -> None:
        """End the run (the host publishes its last snapshot); safe to call twice."""
        if self.run is not None:
            self.run.close()

    # -- helpers --------------------------------------------------------------------------------
    def _attach(self, trainer: Any, pl_module: Any, batch: Any) -> gv.Run:
        sample = self.sample if self.sample is not None else sample_of(batch, self.sample_rows)
        loss_fn = self.loss_fn
        if loss_fn is None:
            loss_fn = next((f for f in (getattr(pl_module, "loss_fn", None), getattr(pl_module, "criterion", None))
                            if callable(f)), None)
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        # Only rank 0 attaches here, so it must not join a distributed job's collectives alone.
        options = {"dist": "off", **self.attach_options}
        return gv.attach(pl_module, loss_fn=loss_fn, optimizer=optimizer, sample=sample,
                         name=self.name or type(pl_module).__name__, layers=self.layers, **options)

    def _fresh(self, metrics: Mapping[str, Any]) -> dict[str, Any]:
        """The one-number metrics logged since they were last sent (Lightning keeps a metric's
        tensor until it is logged again, and files one tensor under several names)."""
        fresh: dict[str, Any] = {}
        seen: set[int] = set()
        for key, value in metrics.items():
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                continue
            if self._sent.get(key) is value or id(value) in seen:
                continue
            seen.add(id(value))
            self._sent[key] = value
            fresh[key] = value.detach()
        return fresh


def _loss_of(outputs: Any) -> Any:
    if isinstance(outputs, torch.Tensor):
        return outputs.detach() if outputs.numel() == 1 else None
    if isinstance(outputs, Mapping):
        loss = outputs.get("loss")
        return loss.detach() if isinstance(loss, torch.Tensor) and loss.numel() == 1 else None
    return None


def sample_of(batch: Any, rows: int = SAMPLE_ROWS) -> Any:
    """`(x, y)` or `x` from a batch: a tensor, or a sequence whose first items are inputs and
    targets; anything else asks for `sample=` in one sentence."""
    if isinstance(batch, torch.Tensor):
        return batch[:rows].detach().clone()
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
        x = batch[0][:rows].detach().clone()
        if len(batch) > 1 and isinstance(batch[1], torch.Tensor) and len(batch[1]) == len(batch[0]):
            return x, batch[1][:rows].detach().clone()
        return x
    raise ValueError(f"GpuvizCallback: cannot take a sample from a batch of type {type(batch).__name__}; "
                     "give sample=(x, y) or sample=x")


__all__ = ["GpuvizCallback", "sample_of"]
