"""The dataset as training sees it: moved to the device once, normalised, split, batched by index."""

from __future__ import annotations

import torch

from gpuviz_app.data.dataset import EVAL_FRACTION, MAX_EVAL, Dataset, split_sizes


class DeviceDataset:
    """Tensors on the training device; batches are gathers by index, never host copies."""

    def __init__(
        self,
        dataset: Dataset,
        device: torch.device | str,
        eval_fraction: float = EVAL_FRACTION,
        max_eval: int = MAX_EVAL,
        seed: int = 0,
    ) -> None:
        self.source = dataset
        self.device = torch.device(device)
        n = len(dataset)
        x = torch.from_numpy(dataset.x).to(self.device)
        self.y = torch.from_numpy(dataset.y).to(self.device)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        _, n_eval = split_sizes(n, eval_fraction, max_eval)
        self.eval_idx = perm[:n_eval].to(self.device)
        self.train_idx = perm[n_eval:].to(self.device)
        self.mean, self.std = _normalisation(x[self.train_idx], dataset.kind)
        self.x = (x - self.mean) / self.std

    @property
    def classes(self) -> list[str]:
        return self.source.classes

    @property
    def num_classes(self) -> int:
        return len(self.source.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.source.input_shape

    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def name(self) -> str:
        return self.source.name

    def __len__(self) -> int:
        return len(self.y)


def _normalisation(x: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature statistics for vectors, per-channel for images, from the training split.

    The spread is the population one (defined for a single row), and a spread that is zero or
    not finite counts as 1: such a feature is only centred, never divided by ~0 or NaN."""
    dims = [0] + list(range(2, x.dim())) if kind == "images" else [0]
    if len(x) == 0:
        shape = [1] + [1 if d in dims else s for d, s in enumerate(x.shape)][1:]
        return torch.zeros(shape, device=x.device), torch.ones(shape, device=x.device)
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, unbiased=False)
    flat = ~torch.isfinite(std) | (std < 1e-6)
    return mean, torch.where(flat, torch.ones_like(std), std)


class EpochSampler:
    """Shuffles the training indices on the device once per epoch and hands out batches."""

    def __init__(self, indices: torch.Tensor, seed: int) -> None:
        self.indices = indices
        self.generator = torch.Generator(device=indices.device).manual_seed(seed)
        self._order = self._shuffle()
        self._pos = 0
        self.epoch = 0

    def _shuffle(self) -> torch.Tensor:
        n = len(self.indices)
        return self.indices[torch.randperm(n, generator=self.generator, device=self.indices.device)]

    def next(self, batch_size: int) -> torch.Tensor:
        n = len(self._order)
        batch_size = min(batch_size, n)
        if self._pos + batch_size > n:
            self._order = self._shuffle()
            self._pos = 0
            self.epoch += 1
        batch = self._order[self._pos : self._pos + batch_size]
        self._pos += batch_size
        return batch
