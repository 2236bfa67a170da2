"""SGD with momentum, Adam and AdamW: torch's own update functions, state kept here.

`torch.optim.Optimizer` wraps its methods in `torch._dynamo.disable`, which imports
torch._dynamo on first use: 0.8 s on the training thread before the first step, a third of
the time between the window appearing and the first training frame. gpuviz never compiles
a model, so it keeps the optimiser state itself and calls the functional updates that
`torch.optim`'s own `step` calls (`torch.optim.sgd.sgd`, `adam.adam`, `adamw.adamw`), with
the same defaults: the trajectories are the same to the last bit (tested).
"""

from __future__ import annotations

from typing import Iterable

import torch

from gpuviz_app.core.config import OPTIMIZERS, TrainConfig

ADAMW_DEFAULT_DECAY = 1e-2  # torch.optim.AdamW's default, used when none is set


class Optimizer:
    """One parameter group; parameters without a gradient are skipped, as torch.optim does."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.state: dict[int, dict[str, torch.Tensor | None]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.zero_()

    def _with_grads(self) -> tuple[list[torch.Tensor], list[torch.Tensor], list[dict]]:
        params, grads, states = [], [], []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            params.append(p)
            grads.append(p.grad)
            states.append(self.state.setdefault(i, {}))
        return params, grads, states

    @torch.no_grad()
    def step(self) -> None:
        params, grads, states = self._with_grads()
        if params:
            self._update(params, grads, states)

    def _update(self, params: list[torch.Tensor], grads: list[torch.Tensor], states: list[dict]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = float(momentum)

    def _update(self, params, grads, states) -> None:
        from torch.optim.sgd import sgd

        buffers = [s.get("momentum_buffer") for s in states]
        sgd(params, grads, buffers, weight_decay=self.weight_decay, momentum=self.momentum, lr=self.lr,
            dampening=0.0, nesterov=False, maximize=False)
        if self.momentum:
            for s, buf in zip(states, buffers):
                s["momentum_buffer"] = buf


class Adam(Optimizer):
    betas = (0.9, 0.999)
    eps = 1e-8

    def _moments(self, params, states) -> tuple[list, list, list]:
        for p, s in zip(params, states):
            if not s:
                s["step"] = torch.tensor(0.0, dtype=torch.float32)
                s["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                s["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [s["step"] for s in states]

    def _update(self, params, grads, states) -> None:
        from torch.optim.adam import adam

        exp_avgs, exp_avg_sqs, steps = self._moments(params, states)
        adam(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, beta1=self.betas[0],
             beta2=self.betas[1], lr=self.lr, weight_decay=self.weight_decay, eps=self.eps, maximize=False)


class AdamW(Adam):
    def _update(self, params, grads, states) -> None:
        from torch.optim.adamw import adamw

        exp_avgs, exp_avg_sqs, steps = self._moments(params, states)
        adamw(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, beta1=self.betas[0],
              beta2=self.betas[1], lr=self.lr, weight_decay=self.weight_decay, eps=self.eps, maximize=False)


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], config: TrainConfig) -> Optimizer:
    if name == "sgd":
        return SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if name == "adam":
        return Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if name == "adamw":
        return AdamW(params, lr=config.lr, weight_decay=config.weight_decay or ADAMW_DEFAULT_DECAY)
    raise ValueError(f"unknown optimizer {name!r} (choose from {', '.join(OPTIMIZERS)})")
