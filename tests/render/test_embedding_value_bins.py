"""A regression run's embedding: target values cut into ranges the point palette can colour."""

from __future__ import annotations

import numpy as np
import torch

from gpuviz_app.core.probes.embedding.frame import EmbeddingFrame
from gpuviz_app.render.views.embedding.value_bins import BINS, value_bin_colors, with_value_bins


def frame(labels, predicted, classes=()) -> EmbeddingFrame:
    n = len(labels)
    return EmbeddingFrame(frame=1, step=3, positions=torch.zeros(n, 2), labels=torch.tensor(labels),
                          predicted=torch.tensor(predicted), index=torch.arange(n), sample_id=1, epoch=1, dims=2,
                          layer="x", features=4, method="pca", classes=list(classes), kind="vectors", inputs=None,
                          layers=("penultimate",), status="", bounds=None)


def test_targets_become_equal_ranges_named_by_their_bounds():
    f = with_value_bins(frame([-1.0, 0.0, 0.49, 2.0, float("nan")], [-5.0, 0.0, 1.0, 9.0, 0.5]))
    assert len(f.classes) == BINS and f.classes[0].startswith("-1 to") and f.classes[-1].endswith("to 2")
    assert isinstance(f.labels, torch.Tensor) and f.labels.dtype == torch.float32
    assert f.labels.tolist() == [0, 4, 5, BINS - 1, 0]
    assert f.predicted.tolist() == [0, 4, 8, BINS - 1, 6]  # out-of-range predictions go to the end bins


def test_a_classifier_frame_is_left_as_it_is():
    f = frame([0.0, 1.0], [1.0, 1.0], classes=("cat", "dog"))
    assert with_value_bins(f) is f


def test_the_ramp_runs_from_dark_to_bright():
    colors = value_bin_colors().astype(int)
    assert colors.shape == (BINS, 4) and (colors[:, 3] == 255).all()
    brightness = colors[:, :3].sum(axis=1)
    assert brightness[0] < brightness[-1] and brightness[-1] > 500
