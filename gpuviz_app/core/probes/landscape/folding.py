"""Batch norms folded into the convolution before them, for the surface's plain forwards.

In evaluation mode a batch norm is a fixed affine map per channel: scale = weight /
sqrt(running_var + eps), shift = bias - running_mean * scale. After a convolution it can be
applied to the convolution's weights and bias instead of to its output, which spares one
pass over the largest activations of a convolutional net for the cost of a pass over its
(much smaller) weights. The weights are folded at every forward, from the module's own
parameters, so a grid point written into them is what the folded forward sees. The losses
differ from the unfolded forward's by float32 rounding only.

The pairs are found by watching one forward of the module (its own hooks and a torch
function mode, both local to it and to the calling thread: `torch.fx` tracing would patch
every module's call in the process while training runs): a BatchNorm1d/2d/3d (exactly those
classes, in evaluation mode, with running statistics, without hooks, called once) whose
input is the output of a Conv1d/2d/3d (exactly, without hooks, called once) that nothing
else uses. Folding replaces the two modules' forwards on that module only (it must be a
private copy), and is undone if the folded output does not match the plain one.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any, Callable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

log = logging.getLogger(__name__)

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _folded_conv(conv: nn.Module, norm: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """`norm(conv(x))` in evaluation mode, as one convolution with folded weights."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight
        shift = -norm.running_mean * scale
        if norm.bias is not None:
            shift = shift + norm.bias
        if conv.bias is not None:
            shift = shift + conv.bias * scale
        weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
        return conv._conv_forward(x, weight, shift)

    return forward


def _passed_on(x: torch.Tensor) -> torch.Tensor:
    return x


def _hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or "forward" in module.__dict__)


def _refs(tree: Any) -> dict[int, weakref.ref]:
    """The tensors in `tree` by id, weakly held: a tensor since freed may share its id with a
    live one, and only the live one counts."""
    return {id(t): weakref.ref(t) for t in tree_leaves(tree) if isinstance(t, torch.Tensor)}


def _alive_in(refs: dict[int, weakref.ref], tensor: torch.Tensor) -> bool:
    ref = refs.get(id(tensor))
    return ref is not None and ref() is tensor


class _Uses(TorchFunctionMode):
    """The tensors passed to torch functions outside the watched modules' calls."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0  # depth of watched module calls under way
        self.used: dict[int, weakref.ref] = {}

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if not self.inside:
            self.used.update(_refs((args, kwargs or {})))
        return func(*args, **(kwargs or {}))


def foldable_pairs(module: nn.Module, x: torch.Tensor, keep: str | None = None) -> list[tuple[str, str]]:
    """(convolution, batch norm) names of `module` that can be folded, watched on one forward of
    `x`; the convolution named `keep` is never one of them."""
    inputs: dict[nn.Module, list[dict[int, weakref.ref]]] = {}  # per watched module, each call's tensors
    made: dict[nn.Module, list[torch.Tensor]] = {}  # per convolution, its outputs (held until the end)
    uses = _Uses()

    def before(m: nn.Module, args: tuple) -> None:
        uses.inside += 1
        inputs.setdefault(m, []).append(_refs(args))

    def after(m: nn.Module, args: tuple, output: Any) -> None:
        uses.inside -= 1
        if type(m) in CONVOLUTIONS:
            made.setdefault(m, []).append(output)

    watched = [m for m in module.modules() if type(m) in CONVOLUTIONS + BATCH_NORMS and not _hooked(m)]
    handles = [m.register_forward_pre_hook(before) for m in watched]
    handles += [m.register_forward_hook(after) for m in watched]
    try:
        with torch.no_grad(), uses:
            result = module(x)
    finally:
        for h in handles:
            h.remove()
    names = {m: n for n, m in module.named_modules(remove_duplicate=False)}
    returned = _refs(result)
    convs = {id(out[0]): (m, out[0]) for m, out in made.items() if len(out) == 1 and len(inputs[m]) == 1}
    pairs = []
    for norm, calls in inputs.items():
        if type(norm) not in BATCH_NORMS or len(calls) != 1 or len(calls[0]) != 1:
            continue
        if norm.training or norm.running_mean is None or norm.running_var is None:
            continue
        conv, source = convs.get(next(iter(calls[0])), (None, None))
        if conv is None or not _alive_in(calls[0], source):
            continue
        if names.get(conv) == keep or conv.out_channels != norm.num_features:
            continue
        elsewhere = _alive_in(uses.used, source) or _alive_in(returned, source) or any(
            _alive_in(refs, source) for m, seen in inputs.items() if m is not norm for refs in seen)
        if not elsewhere:
            pairs.append((names[conv], names[norm]))
    return pairs


def fold_pairs(module: nn.Module, pairs: list[tuple[str, str]]) -> None:
    """Fold `pairs` (from `foldable_pairs` on this module or a copy of it) in place, by instance
    forwards on `module`'s own submodules: `module` must be a private copy."""
    for conv_name, norm_name in pairs:
        conv, norm = module.get_submodule(conv_name), module.get_submodule(norm_name)
        conv.forward = _folded_conv(conv, norm)
        norm.forward = _passed_on


def unfold_pairs(module: nn.Module, pairs: list[tuple[str, str]]) -> None:
    for conv_name, norm_name in pairs:
        for name in (conv_name, norm_name):
            module.get_submodule(name).__dict__.pop("forward", None)


def fold_batch_norms(module: nn.Module, x: torch.Tensor, keep: str | None = None) -> list[tuple[str, str]]:
    """Fold `module`'s foldable pairs (see `foldable_pairs`) in place (`module` must be a private
    copy) and return them; none when the forward cannot be watched or the folded output does
    not match the plain one on `x`."""
    try:
        pairs = foldable_pairs(module, x, keep)
    except Exception as exc:  # noqa: BLE001 - a forward that refuses to be watched keeps its own
        log.debug("no batch norm folded: %s", exc)
        return []
    if not pairs:
        return []
    with torch.no_grad():
        plain = module(x)
        fold_pairs(module, pairs)
        try:
            folded = module(x)
            same = all(torch.allclose(a, b, rtol=1e-4, atol=1e-5)
                       for a, b in zip(tree_leaves(plain), tree_leaves(folded))
                       if isinstance(a, torch.Tensor) and a.is_floating_point())
        except Exception as exc:  # noqa: BLE001 - undone below
            log.debug("batch norms not folded: %s", exc)
            same = False
    if not same:
        unfold_pairs(module, pairs)
        return []
    return pairs
