import numpy as np
import pytest
import torch

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.optimizers import SGD
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.data.builtin import digits
from gpuviz_app.data.device import DeviceDataset


@pytest.fixture(scope="module")
def data():
    return DeviceDataset(digits(), "cpu")


def losses(trainer: Trainer) -> np.ndarray:
    trainer.flush()
    return trainer.history.rows("train_loss")["mean"]


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_loss_falls_clearly_within_300_steps(data, model):
    t = Trainer(data, TrainConfig(model=model))
    t.train(300)
    train = losses(t)
    assert train[:20].mean() > 2.0  # ~ln(10) at the start
    assert train[-50:].mean() < 0.5 * train[:20].mean() and train[-50:].mean() < 0.6
    evals = t.history.rows("eval_loss")
    assert evals["first_step"][0] == 0 and evals["first_step"][-1] == 300
    assert evals["mean"][-1] < 0.5
    assert t.history.latest("eval_acc") > 0.85


def test_seeded_runs_on_cpu_are_reproducible(data):
    a = Trainer(data, TrainConfig(seed=3))
    b = Trainer(data, TrainConfig(seed=3))
    a.train(60)
    b.train(60)
    np.testing.assert_array_equal(losses(a), losses(b))
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    c = Trainer(data, TrainConfig(seed=4))
    c.train(60)
    assert not np.array_equal(losses(a), losses(c))


def test_the_global_rng_is_left_alone(data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Trainer(data, TrainConfig(seed=9)).train(3)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_every_optimizer_trains(data, optimizer):
    lr = 0.05 if optimizer == "sgd" else 1e-3
    t = Trainer(data, TrainConfig(optimizer=optimizer, lr=lr))
    t.train(150)
    train = losses(t)
    assert train[-30:].mean() < train[:10].mean() * 0.7


def test_live_changes_apply_to_the_running_optimizer(data):
    t = Trainer(data, TrainConfig())
    t.set_lr(0.01)
    assert t.optimizer.lr == 0.01
    t.set_optimizer("sgd")
    assert isinstance(t.optimizer, SGD) and t.optimizer.lr == 0.01
    t.set_batch_size(7)
    t.step()
    assert t.config.batch_size == 7


def test_losses_cross_to_the_host_only_on_flush(data):
    t = Trainer(data, TrainConfig())
    t.train(10)
    assert t.history.total("train_loss") == 0
    t.flush()
    assert t.history.total("train_loss") == 10
    assert t.history.step_range() == (0, 10)


@pytest.mark.parametrize("model,channels_last", [("cnn", True), ("mlp", False)])
def test_a_cnn_on_the_cpu_gets_channels_last_batches(data, model, channels_last):
    t = Trainer(data, TrainConfig(model=model))
    seen = []
    t.model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].stride()))
    t.train(2)
    t.evaluate()
    assert len(seen) == 4  # two steps, the first evaluation, this evaluation
    for stride in seen:  # (N, 1, 8, 8): channels-last strides are (64, 1, 8, 1)
        assert (stride[1] == 1) is channels_last, stride
    plain = Trainer(data, TrainConfig(model=model))
    plain._layout = torch.preserve_format
    t2 = Trainer(data, TrainConfig(model=model))
    plain.train(20)
    t2.train(20)
    np.testing.assert_allclose(losses(t2), losses(plain), rtol=1e-4, atol=1e-5)
