"""The first layer's output anywhere on a plane, from outputs computed once per plane.

A Linear, convolution or Embedding layer is linear in its parameters: with the inputs
fixed, its output at centre + a*d1 + b*d2 is out(centre) + a*out(d1) + b*out(d2), biases
included. When such a layer is the first thing the model applies to the raw evaluation
batch, the three outputs are computed once per plane and every grid point combines them
(two element-wise passes) instead of running the layer. The combination differs from the
layer's own result by float32 rounding only.

The layer is found by watching one forward: the first leaf module called, if it is called
with the evaluation batch itself (or the batch only reshaped, as by a Flatten), exactly
once, is one of those classes exactly (a subclass may override `forward`) and has no hooks
of its own. Anything else keeps the plain forward.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from gpuviz_app.core.probes.landscape.params import ParamLayout

LINEAR_IN_WEIGHTS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)
# parameter-free modules that only reshape or pass on their input (dropout is off in eval mode)
RESHAPING = (nn.Flatten, nn.Unflatten, nn.Identity)
DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def first_linear_layer(module: nn.Module, x: torch.Tensor) -> tuple[str, torch.Tensor] | None:
    """The name of the module applied first to `x` (or to `x` only reshaped, or passed through
    dropout in eval mode) and its input, when its output is linear in its parameters and it is applied
    once per forward; None otherwise."""
    fixed = [x]  # tensors made from the raw input alone
    calls: list[tuple[nn.Module, torch.Tensor | None]] = []

    def is_fixed(t: object) -> bool:
        return any(t is f for f in fixed)

    def before(m: nn.Module, args: tuple) -> None:
        calls.append((m, args[0] if args else None))

    def after(m: nn.Module, args: tuple, output: object) -> None:
        passing = type(m) in RESHAPING or (type(m) in DROPOUT and not m.training)
        if len(calls) == 1 and passing and args and is_fixed(args[0]):
            fixed.append(output)
            calls.pop()  # passed on: the next module may still be the first

    leaves = [m for m in module.modules() if not list(m.children())]
    handles = [m.register_forward_pre_hook(before) for m in leaves]
    handles += [m.register_forward_hook(after) for m in leaves]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in handles:
            h.remove()
    if not calls or not is_fixed(calls[0][1]):
        return None
    first, layer_input = calls[0]
    if type(first) not in LINEAR_IN_WEIGHTS or sum(m is first for m, _ in calls) != 1:
        return None
    if first._forward_hooks or first._forward_pre_hooks or getattr(first, "max_norm", None) is not None:
        return None  # a hook may change the result; max_norm renormalises the weights in place
    if not any(True for _ in first.parameters(recurse=False)):
        return None
    name = next(name for name, m in module.named_modules() if m is first)
    return name, layer_input


class FirstLayerPlane:
    """The first layer's outputs at a plane's centre and along each of its directions."""

    def __init__(self, module: nn.Module, name: str, layer_input: torch.Tensor, layout: ParamLayout) -> None:
        self.name, self.layer_input = name, layer_input
        self.layer = module.get_submodule(name)
        prefix = f"{name}." if name else ""
        self.slots = {pname: slot for slot in layout.slots for pname, _ in self.layer.named_parameters(recurse=False)
                      if slot.name == prefix + pname}
        self._key: tuple | None = None
        self.outputs: list[torch.Tensor] = []  # centre, then one per direction

    def prepare(self, centre: torch.Tensor, directions: torch.Tensor) -> None:
        """Compute the outputs for this plane (kept while centre and directions are unchanged)."""
        key = (centre, centre._version, directions, directions._version)
        old = self._key
        if old is not None and old[0] is centre and old[2] is directions and old[1::2] == key[1::2]:
            return
        with torch.no_grad():
            self.outputs = [self._output(v) for v in (centre, *directions)]
        self._key = key

    def _output(self, flat: torch.Tensor) -> torch.Tensor:
        params = {p: flat[s.offset : s.offset + s.numel].view(s.shape) for p, s in self.slots.items()}
        return functional_call(self.layer, params, (self.layer_input,))

    def combine(self, coords: list[float], out: torch.Tensor | None) -> torch.Tensor:
        """The layer's output at centre + coords @ directions, written into `out` when given."""
        centre, *along = self.outputs
        if out is None:
            out = torch.empty_like(centre)
        if not along:
            return out.copy_(centre)
        torch.add(centre, along[0], alpha=coords[0], out=out)
        for t, c in zip(along[1:], coords[1:]):
            out.add_(t, alpha=c)
        return out
