"""The models gpuviz trains: small enough to train live, shaped by the data."""

from __future__ import annotations

import math

import torch
from torch import nn

from gpuviz_app.core.config import MODELS


class MLP(nn.Module):
    def __init__(self, in_features: int, num_classes: int, hidden: tuple[int, ...] = (128, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Two conv blocks and a small head; adaptive pooling makes any image size fit."""

    def __init__(self, in_channels: int, num_classes: int, image_size: tuple[int, int]) -> None:
        super().__init__()
        pool = 2 if min(image_size) >= 8 else 1
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(pool),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d((4, 4)),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 16, 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def resolve_model_kind(kind: str, data_kind: str, input_shape: tuple[int, ...]) -> str:
    """`auto` picks a CNN for images and an MLP for vectors; a CNN needs image-shaped input."""
    if kind == "auto":
        return "cnn" if data_kind == "images" and len(input_shape) == 3 else "mlp"
    if kind == "cnn" and len(input_shape) != 3:
        return "mlp"
    return kind


def build_model(kind: str, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """A freshly initialised model; the seed alone decides its weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "cnn":
            c, h, w = input_shape
            return SmallCNN(c, num_classes, (h, w))
        if kind == "mlp":
            return MLP(math.prod(input_shape), num_classes)
    raise ValueError(f"unknown model {kind!r} (choose from {', '.join(MODELS)})")
