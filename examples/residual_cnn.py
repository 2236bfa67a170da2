"""A small residual CNN on CIFAR-like synthetic 32x32 colour images of 10 classes, watched by gpuviz.

Each class is a coloured blob pattern plus noise, so the network has something to learn.

    gpuviz run examples/residual_cnn.py --steps 200 --view weights --screenshot x.png
"""

import argparse

import torch
from torch import nn
import torch.nn.functional as F

import gpuviz_app as gv


def make_images(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(0, 10, (n,), generator=generator)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    angle = labels.float()[:, None, None] * (2 * torch.pi / 10)
    cx, cy = 0.5 * torch.cos(angle), 0.5 * torch.sin(angle)
    blob = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.15)
    colour = torch.stack([torch.cos(angle), torch.sin(angle), torch.cos(2 * angle)], dim=1) * 0.4 + 0.5
    images = blob[:, None] * colour + 0.15 * torch.rand(n, 3, 32, 32, generator=generator)
    return images.clamp(0, 1), labels


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class ResidualCNN(nn.Module):
    def __init__(self, classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.block1 = Block(width)
        self.down = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.block2 = Block(2 * width)
        self.head = nn.Linear(2 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block1(F.relu(self.stem(x)))
        x = self.block2(F.relu(self.down(F.max_pool2d(x, 2))))
        return self.head(x.mean(dim=(2, 3)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    images, labels = make_images(2048, generator)
    images, labels = images.to(args.device), labels.to(args.device)
    model = ResidualCNN().to(args.device)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sample = make_images(256, generator)
    with gv.attach(model, loss_fn=loss_fn, optimizer=opt, sample=sample, name="residual-cnn") as viz:
        for step in range(args.steps):
            idx = torch.randint(0, len(images), (32,), device=args.device)
            out = model(images[idx])
            loss = loss_fn(out, labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            viz.step(loss=loss, acc=(out.argmax(dim=1) == labels[idx]).float().mean())


if __name__ == "__main__":
    main()
