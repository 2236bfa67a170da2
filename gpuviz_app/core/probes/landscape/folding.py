"""Batch norms folded into the convolution before them, for the surface's plain forwards.

In evaluation mode a batch norm is a fixed affine map per channel: scale = weight /
sqrt(running_var + eps), shift = bias - running_mean * scale. After a convolution it can be
applied to the convolution's weights and bias instead of to its output, which spares one
pass over the largest activations of a convolutional net for the cost of a pass over its
(much smaller) weights. The weights are folded at every forward, from the module's own
parameters, so a grid point written into them is what the folded forward sees. The losses
differ from the unfolded forward's by float32 rounding only.

The pairs are found on a `torch.fx` trace: a BatchNorm1d/2d/3d (exactly those classes, in
evaluation mode, with running statistics, without hooks) whose input is the output of a
Conv1d/2d/3d (exactly, without hooks) that nothing else uses. A model that cannot be traced,
or has no such pair, keeps its plain forward.
"""

from __future__ import annotations

import logging

import torch
from torch import fx, nn

log = logging.getLogger(__name__)

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class FoldedConvolution(nn.Module):
    """`norm(conv(x))` in evaluation mode, as one convolution with folded weights."""

    def __init__(self, conv: nn.Module, norm: nn.Module) -> None:
        super().__init__()
        self.conv, self.norm = conv, norm  # the original's modules: their parameters are shared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, norm = self.conv, self.norm
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


def _hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _foldable(conv: object, norm: object) -> bool:
    return (type(conv) in CONVOLUTIONS and type(norm) in BATCH_NORMS and not norm.training
            and norm.running_mean is not None and norm.running_var is not None
            and not _hooked(conv) and not _hooked(norm) and conv.out_channels == norm.num_features)


def folded_forward(module: nn.Module, keep: str | None = None) -> nn.Module | None:
    """A traced forward of `module` with its convolution + batch norm pairs folded (the
    convolution named `keep` excepted), sharing `module`'s parameters and buffers; None when
    the module cannot be traced or has no such pair."""
    try:
        traced = fx.symbolic_trace(module)
    except Exception as exc:  # noqa: BLE001 - any model may refuse tracing; the plain forward stays
        log.debug("no folded forward: %s", exc)
        return None
    modules = dict(traced.named_modules())
    folded = 0
    for node in list(traced.graph.nodes):
        if node.op != "call_module" or len(node.args) != 1 or node.kwargs:
            continue
        source = node.args[0]
        if not isinstance(source, fx.Node) or source.op != "call_module" or len(source.users) != 1:
            continue
        if source.target == keep or len(source.args) != 1 or source.kwargs:
            continue
        conv, norm = modules.get(source.target), modules.get(node.target)
        if not _foldable(conv, norm):
            continue
        name = f"_folded_{folded}"
        traced.add_submodule(name, FoldedConvolution(conv, norm))
        with traced.graph.inserting_after(source):
            replacement = traced.graph.call_module(name, source.args)
        node.replace_all_uses_with(replacement)
        traced.graph.erase_node(node)
        traced.graph.erase_node(source)
        folded += 1
    if not folded:
        return None
    traced.graph.lint()
    traced.recompile()
    return traced
