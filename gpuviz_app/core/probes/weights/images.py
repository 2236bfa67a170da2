"""Weights as pictures, made on the training device: matrices bounded in size, conv filters tiled.

Tiles are RGBA8 (what the colour texture holds): one tile per filter, in colour when the
layer reads RGB (the first layer of a 3-channel model) and in gray when it reads one
channel; otherwise one grayscale tile per (output, input) channel pair, a row per filter.
Tiles are separated by a transparent one-pixel gap. Per-filter normalisation maps each
output filter's own [min, max] to [0, 255]; shared normalisation uses the layer's
[min, max].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gpuviz_app.core.probes.weights.payload import FilterGrid, MatrixImage

MAX_SIDE = 512  # texels per side of a matrix texture
MAX_TILES = 64  # filters (rows) and channels (columns) shown per conv layer


def matrix_image(weight: torch.Tensor, max_side: int = MAX_SIDE) -> MatrixImage:
    w = weight.detach().reshape(weight.shape[0], -1).float()
    rows, cols = w.shape
    fr, fc = math.ceil(rows / max_side), math.ceil(cols / max_side)
    if fr == 1 and fc == 1:
        values = w.clone()
    else:
        _, idx = F.max_pool2d(w.abs()[None, None], (fr, fc), ceil_mode=True, return_indices=True)
        values = w.reshape(-1)[idx[0, 0]]
    return MatrixImage(values.contiguous(), w.abs().amax(), (fr, fc), (rows, cols))


def _normalise(w: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    lo = w.amin(dim=dims, keepdim=True)
    hi = w.amax(dim=dims, keepdim=True)
    span = hi - lo
    t = torch.where(span > 0, (w - lo) / torch.where(span > 0, span, 1.0), 0.5)
    return torch.round(t * 255.0).to(torch.uint8)


def _layout(tiles: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(gr*gc, th, tw, 4) tiles -> one image with a one-pixel transparent gap around each."""
    gr, gc = grid
    n, th, tw, _ = tiles.shape
    padded = torch.zeros(gr * gc, th + 1, tw + 1, 4, dtype=torch.uint8, device=tiles.device)
    padded[:n, 1:, 1:] = tiles
    image = padded.reshape(gr, gc, th + 1, tw + 1, 4).permute(0, 2, 1, 3, 4).reshape(gr * (th + 1), gc * (tw + 1), 4)
    out = torch.zeros(image.shape[0] + 1, image.shape[1] + 1, 4, dtype=torch.uint8, device=tiles.device)
    out[:-1, :-1] = image
    return out


def _rgba(v: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 1 or 3) -> (..., 4) opaque."""
    if v.shape[-1] == 1:
        v = v.expand(*v.shape[:-1], 3)
    alpha = torch.full((*v.shape[:-1], 1), 255, dtype=torch.uint8, device=v.device)
    return torch.cat([v, alpha], dim=-1)


def filter_grid(weight: torch.Tensor, colour: bool, max_tiles: int = MAX_TILES) -> FilterGrid:
    """Tiles of a conv weight (O, I, kh, kw); kernels of more than two spatial dims are flattened."""
    w = weight.detach().float()
    o, i = w.shape[:2]
    w = w.reshape(o, i, w.shape[2], -1) if w.dim() >= 4 else w.reshape(o, i, 1, -1)
    th, tw = w.shape[2:]
    if (colour and i == 3) or i == 1:  # one tile per filter, in a near-square grid
        colour = i == 3
        shown = (min(o, max_tiles * max_tiles), i)
        w = w[: shown[0]]
        gc = math.ceil(math.sqrt(shown[0]))
        grid = (math.ceil(shown[0] / gc), gc)
        images = []
        for dims in ((1, 2, 3), (0, 1, 2, 3)):
            t = _normalise(w, dims).permute(0, 2, 3, 1)  # (O, kh, kw, channels)
            images.append(_layout(_rgba(t), grid))
        return FilterGrid(images[0], images[1], (th, tw), grid, colour, shown, (o, i), w.clone())
    shown = (min(o, max_tiles), min(i, max_tiles))
    images = []
    for dims in ((1, 2, 3), (0, 1, 2, 3)):
        t = _normalise(w, dims)[: shown[0], : shown[1]]  # normalised over the whole filter
        images.append(_layout(_rgba(t.reshape(-1, th, tw, 1)), shown))
    values = w[: shown[0], : shown[1]].clone()
    return FilterGrid(images[0], images[1], (th, tw), shown, False, shown, (o, i), values)
