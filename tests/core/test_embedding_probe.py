import time

import numpy as np
import pytest
import torch

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.probes.embedding.probe import EmbeddingProbe, leaf_layers
from gpuviz_app.core.probes import PROBES, probe_factories
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.data.builtin import digits
from gpuviz_app.data.dataset import Dataset
from gpuviz_app.data.device import DeviceDataset
from tests.fresh_python import run_python


@pytest.fixture(scope="module")
def digits_data():
    return DeviceDataset(digits(), "cpu")


def make_trainer(data, model="auto"):
    trainer = Trainer(data, TrainConfig(model=model))
    trainer.train(20)
    return trainer


def test_the_probe_is_registered():
    assert "embedding" in PROBES
    assert callable(probe_factories({"embedding"})["embedding"])


def test_default_is_the_penultimate_layer_of_the_whole_small_dataset(digits_data):
    trainer = make_trainer(digits_data)
    frame = EmbeddingProbe(trainer.context)(trainer.context)
    n = len(digits_data)
    assert frame.positions.shape == (n, 2) and frame.positions.dtype == torch.float32
    assert frame.features == 64  # the 64-unit ReLU before the last Linear of SmallCNN
    assert frame.layer == "input of head.3"
    assert torch.equal(frame.index, torch.arange(n))
    assert torch.equal(frame.labels, digits_data.y.float())
    assert frame.labels.dtype == torch.float32 and frame.predicted.dtype == torch.float32
    assert trainer.model.training  # the probe restored the training mode
    with torch.no_grad():
        trainer.model.eval()
        expected = trainer.model(digits_data.x).argmax(dim=1).float()
    assert torch.equal(frame.predicted, expected)
    assert frame.inputs is digits_data.source.x and frame.kind == "images"


def test_activations_match_a_forward_hook_on_the_layer(digits_data):
    """The projection is of the real activations: PCA of them computed directly agrees."""
    trainer = make_trainer(digits_data)
    probe = EmbeddingProbe(trainer.context, {"layer": "head.2"})
    frame = probe(trainer.context)
    captured = []
    handle = dict(trainer.model.named_modules())["head.2"].register_forward_hook(lambda m, i, o: captured.append(o))
    with torch.no_grad():
        trainer.model(digits_data.x)
    handle.remove()
    acts = captured[0].double()
    centred = acts - acts.mean(dim=0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    reference = centred @ vh[:2].T
    reference /= reference.square().sum(dim=1).mean().sqrt()
    for c in range(2):
        corr = torch.corrcoef(torch.stack([frame.positions[:, c].double(), reference[:, c]]))[0, 1]
        assert abs(float(corr)) > 0.999


def test_layer_by_name_dimensions_and_sample_size(digits_data):
    trainer = make_trainer(digits_data)
    probe = EmbeddingProbe(trainer.context, {"layer": "features.0", "dims": 3, "samples": 500})
    frame = probe(trainer.context)
    assert frame.positions.shape == (500, 3)
    assert frame.features == 16 * 8 * 8
    assert frame.layer == "features.0"
    idx = frame.index
    assert len(torch.unique(idx)) == 500 and torch.all(idx[1:] > idx[:-1])
    assert torch.equal(frame.labels, digits_data.y[idx].float())
    assert "features.0" in frame.layers and frame.layers[0] == "penultimate"


def test_frames_come_every_k_steps_and_warm_start(digits_data):
    trainer = make_trainer(digits_data)
    probe = EmbeddingProbe(trainer.context, {"every": 5})
    first = probe(trainer.context)
    trainer.train(3)
    assert probe(trainer.context) is first  # not yet k steps
    trainer.train(2)
    second = probe(trainer.context)
    assert second.frame == first.frame + 1 and second.epoch == first.epoch
    assert probe._pca.cold_starts == 1
    assert second.positions is not first.positions  # payloads are fresh tensors
    probe.configure({"dims": 3})
    third = probe(trainer.context)
    assert third.epoch == second.epoch + 1 and third.positions.shape[1] == 3


def test_the_mlp_has_a_penultimate_layer_too(digits_data):
    trainer = make_trainer(digits_data, model="mlp")
    frame = EmbeddingProbe(trainer.context)(trainer.context)
    assert frame.features == 64 and frame.layer == "input of net.5"


def test_vectors_data_works():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    data = DeviceDataset(Dataset("v", x, y, ["neg", "pos"], "vectors"), "cpu")
    trainer = make_trainer(data)
    frame = EmbeddingProbe(trainer.context, {"samples": 10_000})(trainer.context)
    assert frame.positions.shape == (300, 2) and frame.kind == "vectors"


def test_leaf_layers_are_in_execution_order(digits_data):
    trainer = make_trainer(digits_data)
    order = leaf_layers(trainer.model, digits_data.x[:2])
    assert order[0] == "features.0" and order[-1] == "head.3"


def test_session_forwards_view_options_to_the_probe():
    session = TrainingSession(digits, device="cpu", max_steps=5, probes=probe_factories({"embedding"}))
    session.configure_probe("embedding", {"dims": 3, "samples": 300, "layer": "head.1"})
    session.run(until_finished=True)  # the loop applies the command
    frame = session.advance(0).parts["embedding"]
    assert frame.positions.shape == (300, 3) and frame.layer == "head.1"
    session.reset()  # a new run keeps the options
    session._drain_commands()
    frame = session.mailbox.peek().parts["embedding"]
    assert frame.positions.shape == (300, 3)


def test_missing_layout_extra_is_reported_and_pca_is_shown(digits_data, monkeypatch):
    import gpuviz_app.core.probes.embedding.probe as embedding

    monkeypatch.setattr(embedding, "missing_extra", lambda: "t-SNE/UMAP need the optional 'embedding-extra' extra")
    trainer = make_trainer(digits_data)
    frame = EmbeddingProbe(trainer.context, {"method": "tsne"})(trainer.context)
    assert "embedding-extra" in frame.status and "PCA" in frame.status
    assert frame.positions.shape == (len(digits_data), 2)


def test_tsne_runs_off_the_training_thread_and_is_warm_started(digits_data):
    from gpuviz_app.core.probes.embedding.neighbour_layout import missing_extra

    if missing_extra():
        pytest.skip(missing_extra())
    trainer = make_trainer(digits_data)
    probe = EmbeddingProbe(trainer.context, {"method": "tsne", "samples": 300, "every": 1})
    start = time.perf_counter()
    first = probe(trainer.context)
    assert time.perf_counter() - start < 5  # returned while the layout is computed elsewhere
    assert first.status.startswith("computing t-SNE")
    assert probe._layout.busy
    frames = [first]
    deadline = time.perf_counter() + 240
    while probe._layout.runs < 2 and time.perf_counter() < deadline:
        trainer.train(1)
        frames.append(probe(trainer.context))
        time.sleep(0.2)
    assert probe._layout.runs >= 2, probe._layout.error
    tsne = [f for f in frames if f.status.startswith("t-SNE")]
    assert tsne and tsne[-1].positions.shape == (300, 2)
    assert probe._layout._last is not None  # the next layout starts from this one
    layout = probe._layout
    if not layout.busy:
        trainer.train(1)
        probe(trainer.context)  # starts the next layout
    probe.configure({"method": "pca"})
    probe(trainer.context)  # a restart cancels the running layout
    layout._thread.join(60)
    assert not layout.busy and layout.take() is None


EXIT_WHILE_LAYOUT_RUNS = """
import time
from gpuviz_app.core.probes.embedding.probe import EmbeddingProbe
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.data.builtin import digits
session = TrainingSession(digits, device="cpu", max_steps=5)
session.advance(5)
probe = EmbeddingProbe(session.trainer.context, {"method": "tsne"})
probe(session.trainer.context)
time.sleep(1.0)
print("busy", probe._layout.busy)
"""


def test_a_running_layout_is_cancelled_and_the_process_exits_cleanly():
    """Interpreter exit would stop the layout thread inside torch (an abort) unless it is cancelled."""
    from gpuviz_app.core.probes.embedding.neighbour_layout import missing_extra

    if missing_extra():
        pytest.skip(missing_extra())
    proc = run_python(EXIT_WHILE_LAYOUT_RUNS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "busy True" in proc.stdout
    assert "terminate called" not in proc.stderr


def test_a_sample_too_large_for_memory_is_cut_and_says_so(digits_data, monkeypatch):
    import gpuviz_app.core.probes.embedding.probe as embedding

    monkeypatch.setattr(embedding, "MAX_ELEMENTS", 64 * 500)
    trainer = make_trainer(digits_data)
    frame = EmbeddingProbe(trainer.context)(trainer.context)
    assert frame.positions.shape == (500, 2)
    assert "limited to 500 points" in frame.status


def test_a_diverged_model_keeps_the_last_picture_and_says_why(digits_data):
    trainer = make_trainer(digits_data)
    probe = EmbeddingProbe(trainer.context, {"every": 1})
    good = probe(trainer.context)
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.fill_(float("nan"))
    trainer.step_count += 1
    frame = probe(trainer.context)  # must not raise: a probe error would stop training
    assert frame.frame == good.frame + 1
    assert torch.equal(frame.positions, good.positions)
    assert "projection failed" in frame.status
