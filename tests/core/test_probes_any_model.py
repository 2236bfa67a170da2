"""The probes on models the app did not build, trained by a hand-written loop through a run context."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from gpuviz_app.core.probes import probe_factories
from gpuviz_app.core.run_context import RunContext

PROBE_NAMES = {"weights", "embedding", "landscape"}
LANDSCAPE = {"resolution": 11, "eval_batch": 64}


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(h)))


class ResidualMLP(nn.Module):
    """A regression network with skip connections and a layer norm: nothing like the built-in models."""

    def __init__(self, inputs: int = 6, width: int = 32) -> None:
        super().__init__()
        self.inp = nn.Linear(inputs, width)
        self.blocks = nn.ModuleList([Block(width), Block(width)])
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        for block in self.blocks:
            h = h + block(h)
        return self.out(self.norm(h))


class SequenceClassifier(nn.Module):
    """Token sequences to one of three classes: an embedding, a GRU and a linear head."""

    def __init__(self, vocabulary: int = 12, width: int = 16, classes: int = 3) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary, width)
        self.gru = nn.GRU(width, width, batch_first=True)
        self.head = nn.Linear(width, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.embed(tokens))
        return self.head(out[:, -1])


class AutoEncoder(nn.Module):
    def __init__(self, inputs: int = 6) -> None:
        super().__init__()
        self.encode = nn.Linear(inputs, 3)
        self.decode = nn.Linear(3, inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(torch.tanh(self.encode(x)))


class HandLoop:
    """A user's own training loop: it owns the step and calls the step hooks after each update."""

    def __init__(self, model: nn.Module, inputs: torch.Tensor, targets, loss_fn, lr: float = 0.05,
                 loss=None, **context) -> None:
        torch.manual_seed(0)
        self.model, self.inputs, self.targets = model, inputs, targets
        self.loss = loss or (lambda out, rows: loss_fn(out, targets[rows]))
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        self.step = 0
        self.context = RunContext(model=model, device=inputs.device, inputs=inputs, targets=targets,
                                  loss_fn=loss_fn, step_source=lambda: self.step, **context)

    def train(self, steps: int, batch: int = 32) -> None:
        g = torch.Generator().manual_seed(self.step)
        for _ in range(steps):
            rows = torch.randint(0, len(self.inputs), (batch,), generator=g)
            self.model.train()
            loss = self.loss(self.model(self.inputs[rows]), rows)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            self.context.hooks.run(self.context)


def attach(context: RunContext) -> dict:
    probes = {name: factory(context) for name, factory in probe_factories(PROBE_NAMES).items()}
    probes["landscape"].configure(LANDSCAPE)
    return probes


def regression_run() -> HandLoop:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(256, 6)).astype(np.float32))
    y = (x @ torch.linspace(-1, 1, 6) + torch.sin(2 * x[:, 0])).unsqueeze(1)
    return HandLoop(ResidualMLP(), x, y, nn.MSELoss(), lr=0.01, eval_rows=torch.arange(192, 256))


def assert_weights_payload(probe, payload, steps: int) -> None:
    """Every step is tracked, and each column counts every weight (and gradient) once per step."""
    assert payload.step == steps and payload.columns == steps
    assert payload.column_steps[:, 0].tolist() == list(range(1, steps + 1))
    assert payload.tracked.tolist() == [1] * steps
    sizes = [math.prod(layer.shape) for layer in probe.layers] * 2
    np.testing.assert_array_equal(payload.counts.sum(-1).numpy(), np.outer(sizes, payload.tracked))
    assert torch.isfinite(payload.health).all() and torch.isfinite(payload.latest).all()


def centre_loss(run: HandLoop, loss_fn, size: int) -> float:
    rows = run.context.evaluation_rows(size)
    run.model.eval()
    with torch.no_grad():
        return float(loss_fn(run.model(run.inputs[rows]), run.targets[rows]))


def assert_complete_surface(run: HandLoop, probe, loss_fn) -> None:
    assert probe.settle(run.context, 120)
    p = probe(run.context)
    assert p.state == "done", p.message
    assert p.finished_side == 11 and p.progress == 1.0 and p.centre_step == run.step
    assert p.grid.shape == (11, 11) and torch.isfinite(p.grid).all()
    assert p.centre_loss == pytest.approx(centre_loss(run, loss_fn, LANDSCAPE["eval_batch"]), rel=1e-5)
    assert float(p.grid[5, 5]) == pytest.approx(p.centre_loss, rel=1e-5)


def test_a_residual_regression_network_gets_every_probe():
    run = regression_run()
    probes = attach(run.context)
    probes["embedding"].configure({"samples": 200})
    try:
        run.train(12)
        weights = probes["weights"]
        assert [layer.name for layer in weights.layers] == ["inp", "blocks.0.fc1", "blocks.0.fc2", "blocks.1.fc1",
                                                            "blocks.1.fc2", "out"]
        assert_weights_payload(weights, weights(run.context), 12)

        frame = probes["embedding"](run.context)
        assert frame.positions.shape == (200, 2) and torch.isfinite(frame.positions).all()
        assert frame.layer == "input of out" and frame.features == 32
        assert torch.equal(frame.labels, run.targets[frame.index, 0])  # the regression targets themselves
        run.model.eval()
        with torch.no_grad():
            predicted = run.model(run.inputs[frame.index])[:, 0]
        torch.testing.assert_close(frame.predicted, predicted)
        assert frame.classes == [] and frame.kind == "vectors" and frame.inputs is None

        assert_complete_surface(run, probes["landscape"], nn.MSELoss())
    finally:
        for probe in probes.values():
            probe.close()
    run.train(1)
    assert not run.context.hooks  # closing took the weights tracker off the loop


def test_a_sequence_classifier_trained_by_hand_gets_every_probe():
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 12, (160, 7), generator=g)
    labels = tokens[:, -1] % 3
    run = HandLoop(SequenceClassifier(), tokens, labels, nn.CrossEntropyLoss(), lr=0.1,
                   classes=("a", "b", "c"), kind="sequences")
    probes = attach(run.context)
    try:
        run.train(5)
        weights = probes["weights"]
        names = [layer.name for layer in weights.layers]
        assert names == ["embed", "gru.weight_ih_l0", "gru.weight_hh_l0", "head"]
        assert_weights_payload(weights, weights(run.context), 5)

        frame = probes["embedding"](run.context)
        assert frame.positions.shape == (160, 2) and torch.isfinite(frame.positions).all()
        assert torch.equal(frame.labels, labels.float())
        run.model.eval()
        with torch.no_grad():
            assert torch.equal(frame.predicted, run.model(tokens).argmax(dim=1).float())
        assert frame.classes == ["a", "b", "c"] and frame.kind == "sequences"

        assert_complete_surface(run, probes["landscape"], nn.CrossEntropyLoss())
    finally:
        for probe in probes.values():
            probe.close()


def test_inputs_only_give_embedding_frames_and_a_landscape_that_says_why_there_is_none():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.normal(size=(100, 6)).astype(np.float32))
    # the script trains its own reconstruction loss; the run shows no targets and no loss
    run = HandLoop(AutoEncoder(), x, None, None, loss=lambda out, rows: ((out - x[rows]) ** 2).mean())
    probes = attach(run.context)
    try:
        run.train(4)
        assert_weights_payload(probes["weights"], probes["weights"](run.context), 4)
        frame = probes["embedding"](run.context)
        assert frame.positions.shape == (100, 2) and torch.isfinite(frame.positions).all()
        assert torch.equal(frame.labels, torch.zeros(100))
        assert frame.layer == "input of decode" and frame.features == 3

        landscape = probes["landscape"]
        assert landscape.settle(run.context, 5)  # nothing to wait for
        p = landscape(run.context)
        assert p.state == "error" and p.grid is None and p.step == 4
        assert "no loss function" in p.message
        assert landscape.computer is None  # no thread was started
    finally:
        for probe in probes.values():
            probe.close()
    with_loss = RunContext(model=run.model, device=x.device, inputs=x, loss_fn=nn.MSELoss())
    p = probe_factories({"landscape"})["landscape"](with_loss)(with_loss)
    assert p.state == "error" and "no targets" in p.message
