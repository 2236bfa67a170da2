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


def _normalised_pair(w: torch.Tensor) -> torch.Tensor:
    """(2, O, ...) uint8: `w` (O, ...) mapped to [0, 255] per output filter (0) and over the layer (1).

    Both in one pass over the weights: the layer's [min, max] is that of the filters' own."""
    flat = w.reshape(w.shape[0], -1)
    lo_f, hi_f = flat.amin(dim=1), flat.amax(dim=1)
    shape = (2, -1) + (1,) * (w.dim() - 1)
    lo = torch.stack([lo_f, lo_f.amin().expand_as(lo_f)]).reshape(shape)
    hi = torch.stack([hi_f, hi_f.amax().expand_as(hi_f)]).reshape(shape)
    span = hi - lo
    t = torch.where(span > 0, (w - lo) / torch.where(span > 0, span, 1.0), 0.5)
    return torch.round(t * 255.0).to(torch.uint8)


def _layout(tiles: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(2, n, th, tw, 1 or 3) uint8 tiles -> two opaque RGBA images, the tiles in a `grid` with a
    one-pixel transparent gap around each (gray tiles repeat their channel)."""
    gr, gc = grid
    _, n, th, tw, _ = tiles.shape
    rgba = torch.zeros(2, gr * gc, th, tw, 4, dtype=torch.uint8, device=tiles.device)  # grid cells past n stay clear
    rgba[:, :n, ..., :3] = tiles
    rgba[:, :n, ..., 3] = 255
    out = torch.zeros(2, gr * (th + 1) + 1, gc * (tw + 1) + 1, 4, dtype=torch.uint8, device=tiles.device)
    cells = out[:, 1:, 1:].unflatten(1, (gr, th + 1)).unflatten(3, (gc, tw + 1))[:, :, :th, :, :tw]  # a view of `out`
    cells.copy_(rgba.unflatten(1, (gr, gc)).permute(0, 1, 3, 2, 4, 5))
    return out[0], out[1]


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
        per_filter, shared = _layout(_normalised_pair(w).permute(0, 1, 3, 4, 2), grid)  # (2, O, kh, kw, channels)
        return FilterGrid(per_filter, shared, (th, tw), grid, colour, shown, (o, i), w.clone())
    shown = (min(o, max_tiles), min(i, max_tiles))
    t = _normalised_pair(w)[:, : shown[0], : shown[1]]  # normalised over the whole filter
    per_filter, shared = _layout(t.reshape(2, -1, th, tw, 1), shown)
    values = w[: shown[0], : shown[1]].clone()
    return FilterGrid(per_filter, shared, (th, tw), shown, False, shown, (o, i), values)
