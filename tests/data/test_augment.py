"""On-device augmentation: shifts and flips by index, per sample, only for images, off by default."""

from __future__ import annotations

import pytest
import torch

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.data.augment import Augmenter, shift_and_flip
from gpuviz_app.data.builtin import digits, moons
from gpuviz_app.data.dataset import split_sizes
from gpuviz_app.data.device import DeviceDataset


def test_each_sample_is_a_shifted_or_mirrored_copy_of_itself():
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8) + 1
    g = torch.Generator().manual_seed(0)
    for flip in (False, True):
        out = shift_and_flip(x, g, flip=flip, max_shift=2)
        assert out.shape == x.shape
        for i in range(2):
            # every non-padded pixel comes from this sample, in order along rows
            kept = out[i][out[i] != 0]
            assert set(kept.tolist()) <= set(x[i].flatten().tolist())
            candidates = [x[i], x[i].flip(-1)] if flip else [x[i]]
            assert any(_is_shift(out[i, 0], c[0]) for c in candidates)


def _is_shift(a: torch.Tensor, b: torch.Tensor, p: int = 2) -> bool:
    padded = torch.nn.functional.pad(b, (p, p, p, p))
    h, w = b.shape
    return any(torch.equal(padded[dy:dy + h, dx:dx + w], a) for dy in range(2 * p + 1) for dx in range(2 * p + 1))


def test_augmentation_is_seeded_and_leaves_vectors_alone():
    x = torch.rand(16, 1, 8, 8)
    a = Augmenter("images", torch.device("cpu"), seed=3)
    b = Augmenter("images", torch.device("cpu"), seed=3)
    assert torch.equal(a(x, "shift"), b(x, "shift"))
    assert not torch.equal(a(x, "shift"), x)
    assert a(x, "off") is x
    v = torch.rand(16, 2)
    assert Augmenter("vectors", torch.device("cpu"), 0)(v, "shift+flip") is v


def test_the_trainer_uses_it_when_configured_and_not_by_default():
    assert TrainConfig().augment == "off"
    data = DeviceDataset(digits(), "cpu")
    plain = Trainer(data, TrainConfig(seed=1))
    shifted = Trainer(data, TrainConfig(seed=1, augment="shift"))
    plain.train(5)
    shifted.train(5)
    plain.flush()
    shifted.flush()
    assert plain.history.latest("train_loss") != shifted.history.latest("train_loss")
    again = Trainer(data, TrainConfig(seed=1, augment="shift"))
    again.train(5)
    again.flush()
    assert again.history.latest("train_loss") == shifted.history.latest("train_loss")


def test_stale_augment_settings_fall_back_to_off():
    assert TrainConfig.from_dict({"augment": "rotate-wildly", "lr": 0.5}).augment == "off"
    assert TrainConfig.from_dict({"augment": "shift"}).augment == "shift"


def test_the_split_shown_is_the_split_made():
    data = DeviceDataset(moons(), "cpu")
    assert (len(data.train_idx), len(data.eval_idx)) == split_sizes(len(moons()))


@pytest.mark.gpu
def test_augmentation_and_training_on_cuda():
    data = DeviceDataset(digits(), "cuda")
    trainer = Trainer(data, TrainConfig(seed=1, augment="shift+flip"))
    trainer.train(20)
    trainer.flush()
    assert data.x.is_cuda and trainer.history.latest("train_loss") > 0
    out = trainer.augment(data.x[data.train_idx[:64]], "shift+flip")
    assert out.is_cuda and out.shape == (64, 1, 8, 8)
