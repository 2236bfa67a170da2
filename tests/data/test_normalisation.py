"""Normalisation never divides by a zero or undefined spread (one row per class, constant features)."""

import warnings

import numpy as np
import pytest
import torch

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.data.dataset import Dataset
from gpuviz_app.data.device import DeviceDataset


@pytest.mark.parametrize("kind, shape", [("vectors", (2, 3)), ("images", (2, 1, 4, 4))])
def test_one_sample_per_class_trains_to_finite_losses_without_warnings(kind, shape):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    dataset = Dataset("tiny", x, np.array([0, 1]), ["a", "b"], kind)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's std() degrees-of-freedom warning fails the test
        data = DeviceDataset(dataset, "cpu")
        trainer = Trainer(data, TrainConfig())
        trainer.train(20)
        trainer.flush()
    assert torch.isfinite(data.x).all() and torch.isfinite(data.std).all()
    assert np.isfinite(trainer.history.rows("train_loss")["mean"]).all()
    assert np.isfinite(trainer.history.rows("eval_loss")["mean"]).all()


def test_a_constant_feature_is_centred_not_blown_up():
    x = np.stack([np.full(40, 5.0), np.arange(40.0)], axis=1).astype(np.float32)
    y = np.arange(40) % 2
    eval_row = int(DeviceDataset(Dataset("flat", x, y, ["a", "b"], "vectors"), "cpu").eval_idx[0])
    x[eval_row, 0] = 6.0  # constant in the training split; dividing by a ~0 spread would blow it up
    data = DeviceDataset(Dataset("flat", x, y, ["a", "b"], "vectors"), "cpu")
    assert int(data.eval_idx[0]) == eval_row
    assert float(data.std[0, 0]) == 1.0
    assert float(data.x[eval_row, 0]) == pytest.approx(1.0)
    train_rows = np.arange(40.0)[data.train_idx.numpy()]
    assert float(data.std[0, 1]) == pytest.approx(float(train_rows.std()), rel=1e-4)
