"""Light image augmentation on the training device: random shifts and flips, per sample, by index.

A batch is padded once and every sample's window is gathered with index grids, so the cost
is one gather per batch, with no host round trip and no per-sample loop.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

MAX_SHIFT = 2  # pixels; enough to help, small enough for 8x8 digits


class Augmenter:
    """Applies the config's `augment` mode to image batches; vectors pass through untouched."""

    def __init__(self, kind: str, device: torch.device, seed: int) -> None:
        self.images = kind == "images"
        self.generator = torch.Generator(device=device).manual_seed(seed + 7919)

    def __call__(self, x: torch.Tensor, mode: str) -> torch.Tensor:
        if not self.images or mode == "off" or x.dim() != 4:
            return x
        return shift_and_flip(x, self.generator, flip=mode == "shift+flip")


def shift_and_flip(x: torch.Tensor, generator: torch.Generator, flip: bool = False,
                   max_shift: int = MAX_SHIFT) -> torch.Tensor:
    b, _, h, w = x.shape
    p = min(max_shift, max(0, min(h, w) // 4))
    device = x.device
    rows = torch.arange(h, device=device).expand(b, h)
    cols = torch.arange(w, device=device).expand(b, w)
    if p:
        x = F.pad(x, (p, p, p, p))  # zeros: the mean pixel, since the data is normalised
        rows = rows + torch.randint(0, 2 * p + 1, (b, 1), generator=generator, device=device)
        cols = cols + torch.randint(0, 2 * p + 1, (b, 1), generator=generator, device=device)
    if flip:
        mirror = torch.rand(b, 1, generator=generator, device=device) < 0.5
        cols = torch.where(mirror, cols.flip(1), cols)
    batch = torch.arange(b, device=device)[:, None, None]
    out = x[batch, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()
