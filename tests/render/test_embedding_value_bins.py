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


def test_targets_become_ranges_of_equal_counts_named_by_their_bounds():
    values = np.r_[np.linspace(0.0, 1.0, 96), [50.0, -40.0, 80.0, float("nan")]]  # a few outliers
    f = with_value_bins(frame(values, values[::-1].copy()))
    assert len(f.classes) == BINS and f.classes[0].startswith("-40 to") and f.classes[-1].endswith("to 80")
    assert isinstance(f.labels, torch.Tensor) and f.labels.dtype == torch.float32
    labels = f.labels.numpy()
    counts = np.bincount(labels.astype(int), minlength=BINS)
    assert counts.min() >= 6 and counts.max() <= 10  # the outliers do not take the colours
    finite = np.isfinite(values)
    order = np.argsort(values[finite])
    assert (np.diff(labels[finite][order]) >= 0).all()  # larger values, later bins
    assert labels[~finite].tolist() == [0]
    assert f.predicted.tolist() == labels[::-1].tolist()


def test_a_classifier_frame_is_left_as_it_is():
    f = frame([0.0, 1.0], [1.0, 1.0], classes=("cat", "dog"))
    assert with_value_bins(f) is f


def test_the_ramp_runs_from_dark_to_bright():
    colors = value_bin_colors().astype(int)
    assert colors.shape == (BINS, 4) and (colors[:, 3] == 255).all()
    brightness = colors[:, :3].sum(axis=1)
    assert brightness[0] < brightness[-1] and brightness[-1] > 500
