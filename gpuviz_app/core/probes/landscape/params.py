"""Parameters as one flat vector, and the directions a loss surface is drawn along.

Directions follow Li et al., 2018 ("Visualizing the Loss Landscape of Neural Nets"): a
Gaussian direction is rescaled filter by filter to the norm of the matching weight filter
(a filter is a slice along the first axis: an output channel of a convolution, a row of a
linear layer). Biases and normalisation-layer parameters are zeroed unless included, in
which case their direction is the weight itself, as in the paper's code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

_NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
if hasattr(nn, "RMSNorm"):
    _NORM_LAYERS = _NORM_LAYERS + (nn.RMSNorm,)


@dataclass(frozen=True)
class ParamSlot:
    name: str
    shape: tuple[int, ...]
    offset: int
    numel: int
    filters: bool  # normalised filter-wise (False: a bias or a normalisation-layer parameter)


class ParamLayout:
    """Where each parameter of a model lives in the flat vector."""

    def __init__(self, model: nn.Module) -> None:
        owner = {}
        for module_name, module in model.named_modules():
            for pname, _ in module.named_parameters(recurse=False):
                owner[f"{module_name}.{pname}" if module_name else pname] = module
        slots, offset = [], 0
        for name, p in model.named_parameters():
            n = p.numel()
            filters = p.dim() > 1 and not isinstance(owner.get(name), _NORM_LAYERS)
            slots.append(ParamSlot(name, tuple(p.shape), offset, n, filters))
            offset += n
        self.slots: list[ParamSlot] = slots
        self.size = offset

    def flatten(self, model: nn.Module) -> torch.Tensor:
        """A fresh copy of the model's parameters as one vector (the training may go on)."""
        with torch.no_grad():
            return torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of `flat` (shape (..., size)) as a name -> (..., *shape) dict."""
        lead = flat.shape[:-1]
        return {s.name: flat[..., s.offset : s.offset + s.numel].view(*lead, *s.shape) for s in self.slots}

    def filter_mask(self, device: torch.device | str) -> torch.Tensor:
        """1 where a coordinate belongs to a filter-normalised parameter, 0 for biases/normalisation."""
        mask = torch.zeros(self.size, device=device)
        for s in self.slots:
            if s.filters:
                mask[s.offset : s.offset + s.numel] = 1.0
        return mask


def filter_normalised(direction: torch.Tensor, weights: torch.Tensor, layout: ParamLayout,
                      include_bias: bool = False) -> torch.Tensor:
    """`direction` rescaled so that each of its filters has the norm of the weights' filter."""
    out = torch.empty_like(direction)
    d_parts, w_parts, o_parts = (layout.unflatten(t) for t in (direction, weights, out))
    for s in layout.slots:
        d, w, o = d_parts[s.name], w_parts[s.name], o_parts[s.name]
        if not s.filters:
            if include_bias:
                o.copy_(w)
            else:
                o.zero_()
            continue
        d2, w2 = d.reshape(s.shape[0], -1), w.reshape(s.shape[0], -1)
        scale = w2.norm(dim=1, keepdim=True) / (d2.norm(dim=1, keepdim=True) + 1e-10)
        o.copy_((d2 * scale).view(s.shape))
    return out


def random_directions(weights: torch.Tensor, layout: ParamLayout, count: int, seed: int,
                      include_bias: bool = False) -> torch.Tensor:
    """`count` filter-normalised Gaussian directions (rows), reproducible from `seed` on any device.

    The Gaussian draws depend on the seed alone, so re-centring keeps the same directions,
    re-normalised to the new weights.
    """
    gen = torch.Generator().manual_seed(seed)
    raw = torch.randn(count, layout.size, generator=gen).to(weights.device, weights.dtype)
    return torch.stack([filter_normalised(raw[i], weights, layout, include_bias) for i in range(count)])


def pca_directions(snapshots: torch.Tensor, centre: torch.Tensor, mask: torch.Tensor | None = None,
                   count: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` principal directions of the snapshots relative to `centre` (orthonormal rows),
    and the fraction of the variance each explains."""
    m = snapshots - centre
    if mask is not None:
        m = m * mask
    _, s, vh = torch.linalg.svd(m, full_matrices=False)
    var = s.square()
    total = var.sum()
    if not torch.isfinite(total) or total <= 0 or vh.shape[0] < count:
        raise ValueError("the recorded path has not moved enough for PCA")
    return vh[:count].contiguous(), var[:count] / total


def project(points: torch.Tensor, centre: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Least-squares coordinates of `points` (m x P) in the affine span of `directions` (r x P)
    around `centre`; exact projections when the directions are orthonormal."""
    offsets = points - centre
    gram = directions @ directions.T
    rhs = directions @ offsets.T
    return torch.linalg.solve(gram.double(), rhs.double()).T.to(points.dtype)
