"""Models the loss-surface benchmark measures besides the app's default CNN (bench only).

Each is a common shape of network the evaluator must handle well: a wide tanh MLP on
tabular data, a CNN with batch norm on 32x32 colour images, a small residual net and a
small transformer over token sequences. Data are synthetic (labels from a fixed random
teacher, so the loss means something) and each model is trained briefly before the surface
is measured, so the grid is not drawn around an untrained initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class BenchModel:
    name: str
    label: str
    model: nn.Module
    loss_fn: nn.Module
    x: torch.Tensor  # the evaluation batch
    y: torch.Tensor


class WideTanhMLP(nn.Sequential):
    def __init__(self, features: int = 32, width: int = 512, classes: int = 8) -> None:
        super().__init__(nn.Linear(features, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(),
                         nn.Linear(width, classes))


class BatchNormCNN(nn.Sequential):
    def __init__(self, classes: int = 10) -> None:
        super().__init__(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(16 * 8 * 8, classes))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


class SmallResNet(nn.Module):
    def __init__(self, channels: int = 12, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                                  nn.ReLU())
        self.blocks = nn.Sequential(ResidualBlock(channels), ResidualBlock(channels))
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class SmallTransformer(nn.Module):
    def __init__(self, vocab: int = 64, length: int = 16, dim: int = 32, classes: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.position = nn.Parameter(torch.zeros(length, dim))
        layer = nn.TransformerEncoderLayer(dim, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(tokens) + self.position)
        return self.head(h.mean(dim=1))


def _teacher_labels(x: torch.Tensor, classes: int, gen: torch.Generator) -> torch.Tensor:
    flat = x.reshape(len(x), -1).float()
    w = torch.randn(flat.shape[1], classes, generator=gen)
    return (flat @ w).argmax(dim=1)


def _data(name: str, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if name == "mlp":
        x = torch.randn(n, 32, generator=gen)
        return x, _teacher_labels(torch.tanh(x), 8, gen)
    if name == "bn_cnn":
        x = torch.rand(n, 3, 32, 32, generator=gen)
        return x, _teacher_labels(nn.functional.avg_pool2d(x, 4), 10, gen)
    if name == "resnet":
        x = torch.rand(n, 3, 16, 16, generator=gen)
        return x, _teacher_labels(nn.functional.avg_pool2d(x, 2), 10, gen)
    tokens = torch.randint(0, 64, (n, 16), generator=gen)
    counts = nn.functional.one_hot(tokens, 64).sum(dim=1).float()
    return tokens, _teacher_labels(counts, 4, gen)


MODELS = {
    "mlp": ("wide tanh MLP, tabular 32 features", WideTanhMLP),
    "bn_cnn": ("CNN with batch norm, 32x32 colour", BatchNormCNN),
    "resnet": ("small residual net, 16x16 colour", SmallResNet),
    "transformer": ("small transformer, 16 tokens", SmallTransformer),
}


def bench_model(name: str, samples: int, train_steps: int, device: str = "cpu", seed: int = 0) -> BenchModel:
    """One of `MODELS`, trained `train_steps` Adam steps, with an evaluation batch of `samples`."""
    label, cls = MODELS[name]
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = cls()
    x, y = _data(name, max(512, samples), gen)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(train_steps):
        rows = torch.randint(0, len(x), (64,), generator=gen)
        opt.zero_grad()
        loss_fn(model(x[rows]), y[rows]).backward()
        opt.step()
    model.eval()
    return BenchModel(name, label, model.to(device), loss_fn, x[:samples].to(device), y[:samples].to(device))
