import numpy as np
import pytest
import torch

from gpuviz_app.core.probes.weights import histogram as H
from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.core.probes.weights.images import filter_grid, matrix_image
from gpuviz_app.core.probes.weights.probe import WeightsProbe, find_layers
from gpuviz_app.data.builtin import digits
from gpuviz_app.data.device import DeviceDataset


@pytest.fixture(params=["step", "batch"])
def tracker(request):
    return request.param


@pytest.fixture(scope="module")
def data():
    return DeviceDataset(digits(), "cpu")


class Capture:
    """A second step hook keeping copies of every layer's weights and gradients."""

    def __init__(self, trainer):
        self.layers = find_layers(trainer.model)
        self.weights = [[layer.weight.detach().clone() for layer in self.layers]]
        self.grads = [None]
        trainer.add_step_hook(self)

    def __call__(self, context):
        self.weights.append([layer.weight.detach().clone() for layer in self.layers])
        self.grads.append([layer.weight.grad.clone() for layer in self.layers])


def test_the_trainer_calls_step_hooks_once_per_step(data):
    trainer = Trainer(data, TrainConfig())
    seen = []
    remove = trainer.add_step_hook(lambda context: seen.append((context.step, torch.is_grad_enabled())))
    trainer.train(3)
    assert seen == [(1, False), (2, False), (3, False)]
    assert trainer.hook_time > 0
    remove()
    trainer.train(1)
    assert len(seen) == 3


def test_histograms_of_every_step_equal_numpy_histogram(data, tracker):
    trainer = Trainer(data, TrainConfig())
    probe = WeightsProbe(trainer.context, tracker=tracker)
    capture = Capture(trainer)
    trainer.train(40)
    payload = probe(trainer.context)
    columns = probe.tracker.columns
    nl = len(probe.layers)
    assert payload.columns == 40 and payload.stride == 1
    for c, step in enumerate(payload.column_steps[:, 0]):
        for s in range(2 * nl):
            tensors = capture.weights[step] if s < nl else capture.grads[step]
            values = tensors[s % nl].numpy().ravel().astype(np.float64)
            edges = H.edges(int(columns.e[c, s]), int(columns.k0[c, s]))
            expected, _ = np.histogram(values, edges)
            np.testing.assert_array_equal(payload.counts[s, c].numpy(), expected)
            assert payload.grid[s, c, 1] == edges[1] - edges[0]
            assert payload.grid[s, c, 0] == pytest.approx(edges[0], rel=1e-6)


def test_after_merging_every_step_is_still_counted(data, tracker):
    trainer = Trainer(data, TrainConfig())
    probe = WeightsProbe(trainer.context, capacity=8, tracker=tracker)
    trainer.train(45)
    payload = probe(trainer.context)
    sizes = [int(np.prod(layer.shape)) for layer in probe.layers] * 2
    per_column = payload.counts.sum(-1)  # (S, n)
    steps = payload.column_steps[:, 1] - payload.column_steps[:, 0] + 1
    assert steps.sum() == 45 and payload.stride == 8
    np.testing.assert_array_equal(per_column.numpy(), np.outer(sizes, steps))


def test_update_to_weight_ratio_equals_a_manual_computation(data, tracker):
    trainer = Trainer(data, TrainConfig(optimizer="sgd", lr=0.05))
    probe = WeightsProbe(trainer.context, tracker=tracker)
    capture = Capture(trainer)
    trainer.train(5)
    payload = probe(trainer.context)
    for i in range(len(probe.layers)):
        for step in range(1, 6):
            w, prev = capture.weights[step][i], capture.weights[step - 1][i]
            ratio = (torch.linalg.vector_norm(w - prev) / torch.linalg.vector_norm(w)).item()
            grad_norm = torch.linalg.vector_norm(capture.grads[step][i]).item()
            assert payload.health[i, step - 1, 1].item() == pytest.approx(ratio, rel=1e-4)
            assert payload.health[i, step - 1, 0].item() == pytest.approx(grad_norm, rel=1e-4)
        assert payload.latest[1, i].item() == pytest.approx(ratio, rel=1e-4)


def test_steps_taken_while_hidden_are_a_gap_and_tracking_resumes_exactly(data, tracker):
    trainer = Trainer(data, TrainConfig(optimizer="sgd", lr=0.05))
    probe = WeightsProbe(trainer.context, tracker=tracker)
    capture = Capture(trainer)
    trainer.train(3)
    probe.set_shown(False)
    assert not probe.tracking
    trainer.train(4)  # steps 4-7: not tracked, and the hook is off the training loop
    probe.set_shown(True)
    trainer.train(2)  # steps 8-9
    payload = probe(trainer.context)
    assert payload.column_steps[:, 0].tolist() == list(range(1, 10))
    assert payload.tracked.tolist() == [1, 1, 1, 0, 0, 0, 0, 1, 1]
    assert payload.counts[:, 3:7].sum() == 0
    assert np.isnan(payload.health[:, 3:7].numpy()).all()
    for i in range(len(probe.layers)):
        for step in (1, 2, 3, 8, 9):  # step 8's update is measured from step 7's weights, not step 3's
            w, prev = capture.weights[step][i], capture.weights[step - 1][i]
            ratio = (torch.linalg.vector_norm(w - prev) / torch.linalg.vector_norm(w)).item()
            assert payload.health[i, step - 1, 1].item() == pytest.approx(ratio, rel=1e-4)
            values = capture.weights[step][i].numpy().ravel().astype(np.float64)
            edges = H.edges(int(probe.columns.e[step - 1, i]), int(probe.columns.k0[step - 1, i]))
            np.testing.assert_array_equal(payload.counts[i, step - 1].numpy(), np.histogram(values, edges)[0])


def test_track_hidden_keeps_every_step_and_close_takes_the_hook_off(data, tracker):
    trainer = Trainer(data, TrainConfig())
    probe = WeightsProbe(trainer.context, tracker=tracker)
    probe.configure({"track_hidden": True})
    probe.set_shown(False)
    trainer.train(5)
    assert probe.tracking and probe(trainer.context).tracked.tolist() == [1] * 5
    probe.configure({"track_hidden": False})
    assert not probe.tracking
    probe.set_shown(True)
    probe.close()
    hooks_left = len(trainer.hooks)
    trainer.train(2)
    assert hooks_left == 0 and probe(trainer.context).tracked.sum() == 5


def test_layers_with_all_zero_gradients_are_flagged_dead(data, tracker):
    trainer = Trainer(data, TrainConfig(optimizer="sgd", lr=0.1, momentum=0.0))
    probe = WeightsProbe(trainer.context, tracker=tracker)
    with torch.no_grad():
        trainer.model.head[3].weight.zero_()  # nothing flows back past the last layer
    trainer.train(1)
    payload = probe(trainer.context)
    assert payload.latest[3].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert payload.dead_steps[:, 0].tolist() == [1.0, 1.0, 1.0, 0.0]
    trainer.train(1)  # the last layer moved: gradients flow again
    assert probe(trainer.context).latest[3].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_a_layer_without_gradient_counts_as_dead(data, tracker):
    trainer = Trainer(data, TrainConfig())
    trainer.model.features[0].weight.requires_grad_(False)
    probe = WeightsProbe(trainer.context, tracker=tracker)
    trainer.train(2)
    assert probe(trainer.context).latest[3].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_linear_layers_are_shipped_as_matrices_and_conv_layers_as_tiles(data, tracker):
    trainer = Trainer(data, TrainConfig())
    probe = WeightsProbe(trainer.context, tracker=tracker)
    trainer.train(2)
    payload = probe(trainer.context)
    assert sorted(payload.matrices) == [2, 3] and sorted(payload.filters) == [0, 1]
    torch.testing.assert_close(payload.matrices[2].values, trainer.model.head[1].weight, rtol=0, atol=0)
    assert payload.matrices[2].values.data_ptr() != trainer.model.head[1].weight.data_ptr()  # a copy


def test_a_huge_matrix_is_pooled_keeping_each_blocks_extreme():
    w = torch.randn(1030, 700)
    image = matrix_image(w, max_side=512)
    assert image.block == (3, 2) and image.values.shape == (344, 350)
    block = w[3 * 5 : 3 * 6, 2 * 7 : 2 * 8]
    assert image.values[5, 7] == block.reshape(-1)[block.abs().argmax()]
    assert image.absmax == w.abs().max()


def normalised(w: torch.Tensor) -> np.ndarray:
    w = w.numpy().astype(np.float64)
    return np.round((w - w.min()) / (w.max() - w.min()) * 255).astype(np.uint8)


def test_a_conv_tile_equals_its_filter_after_normalisation():
    torch.manual_seed(0)
    w = torch.randn(32, 16, 3, 3)
    grid = filter_grid(w, colour=False)
    assert grid.grid == (32, 16) and not grid.colour
    o, i = 5, 9
    tile = grid.per_filter[1 + o * 4 : 4 + o * 4, 1 + i * 4 : 4 + i * 4].numpy()
    per_filter = normalised(w[o])[i]  # normalised over the whole filter (all its channels)
    np.testing.assert_array_equal(tile[..., 0], per_filter)
    np.testing.assert_array_equal(tile[..., 3], 255)
    shared = grid.shared[1 + o * 4 : 4 + o * 4, 1 + i * 4 : 4 + i * 4].numpy()
    np.testing.assert_array_equal(shared[..., 1], normalised(w)[o, i])
    assert grid.per_filter[0].numpy()[..., 3].max() == 0  # the gap is transparent


def test_the_first_layer_of_an_rgb_model_is_tiled_in_colour():
    torch.manual_seed(1)
    w = torch.randn(16, 3, 5, 5)
    grid = filter_grid(w, colour=True)
    assert grid.colour and grid.grid == (4, 4) and grid.tile == (5, 5)
    o = 6
    r, c = divmod(o, 4)
    tile = grid.per_filter[1 + r * 6 : 6 + r * 6, 1 + c * 6 : 6 + c * 6].numpy()
    np.testing.assert_array_equal(tile[..., :3], normalised(w[o]).transpose(1, 2, 0))


def test_rgb_input_gives_a_colour_first_layer_through_the_probe(tracker):
    from gpuviz_app.data.dataset import Dataset

    rng = np.random.default_rng(0)
    x = rng.random((64, 3, 8, 8), dtype=np.float32)
    ds = Dataset(x=x, y=rng.integers(0, 2, 64), classes=["a", "b"], kind="images", name="rgb")
    trainer = Trainer(DeviceDataset(ds, "cpu"), TrainConfig())
    probe = WeightsProbe(trainer.context, tracker=tracker)
    trainer.train(1)
    filters = probe(trainer.context).filters
    assert filters[0].colour and not filters[1].colour


def assert_every_step_matches_numpy(probe, payload, capture):
    columns = probe.tracker.columns
    nl = len(probe.layers)
    for c, step in enumerate(payload.column_steps[:, 0]):
        for s in range(2 * nl):
            tensors = capture.weights[step] if s < nl else capture.grads[step]
            values = tensors[s % nl].numpy().ravel().astype(np.float64)
            values = values[np.isfinite(values)]
            edges = H.edges(int(columns.e[c, s]), int(columns.k0[c, s]))
            expected, _ = np.histogram(values, edges)
            np.testing.assert_array_equal(payload.counts[s, c].numpy(), expected, err_msg=f"step {step} series {s}")


def test_a_jump_out_of_the_grid_mid_batch_stays_exact(data, tracker):
    trainer = Trainer(data, TrainConfig())
    probe = WeightsProbe(trainer.context, tracker=tracker)
    capture = Capture(trainer)
    trainer.train(5)
    with torch.no_grad():
        trainer.model.head[1].weight.mul_(40.0)  # far outside this batch's grid
        trainer.model.features[0].weight[0, 0, 0, 0] = 25.0
    trainer.train(5)
    payload = probe(trainer.context)
    assert payload.columns == 10
    assert_every_step_matches_numpy(probe, payload, capture)
    if tracker == "step":
        assert probe.tracker.exact_steps >= 2  # the first step, and the jump


def test_non_finite_values_are_counted_apart(data, tracker):
    trainer = Trainer(data, TrainConfig())
    probe = WeightsProbe(trainer.context, tracker=tracker)
    capture = Capture(trainer)
    trainer.train(3)
    with torch.no_grad():
        w = trainer.model.head[3].weight
        w[0, 0], w[1, 1] = float("nan"), float("inf")
    trainer.step_count += 1  # one more tracked "step" with the same gradients
    trainer.hooks.run(trainer.context)
    payload = probe(trainer.context)
    assert payload.columns == 4
    assert payload.counts[3, 3].sum() == 640 - 2  # layer 4's weights at that step: two not binned
    assert probe.columns.nonfinite[3, 3] == 2
    assert_every_step_matches_numpy(probe, payload, capture)


@pytest.mark.gpu
def test_on_cuda_every_step_is_exact_and_the_step_hook_never_waits_for_the_device():
    trainer = Trainer(DeviceDataset(digits(), "cuda"), TrainConfig())
    probe = WeightsProbe(trainer.context)
    assert type(probe.tracker).__name__ == "BatchTracker"
    steps = []
    trainer.add_step_hook(lambda t: steps.append(([l.weight.detach().cpu() for l in probe.layers],
                                                  [l.weight.grad.cpu() for l in probe.layers])))
    trainer.train(3)
    hook = probe.tracker
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.no_grad():
            trainer.step_count += 1
            hook(trainer.context)  # one row into the buffer: no read-back
        hook.pending -= 1
        trainer.step_count -= 1
    finally:
        torch.cuda.set_sync_debug_mode("default")
    payload = probe(trainer.context)
    columns = probe.tracker.columns
    nl = len(probe.layers)
    for c in range(3):
        weights, grads = steps[c]
        for s in range(2 * nl):
            values = (weights if s < nl else grads)[s % nl].numpy().ravel().astype(np.float64)
            edges = H.edges(int(columns.e[c, s]), int(columns.k0[c, s]))
            np.testing.assert_array_equal(payload.counts[s, c].cpu().numpy(), np.histogram(values, edges)[0])
