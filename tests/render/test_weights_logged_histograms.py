"""The weights view on histograms imported from a TensorBoard log: the distributions are drawn
from the logged counts, and what the log lacks (weight pictures, gradients, layer health) is
said to be missing rather than drawn as zeros."""

from __future__ import annotations

import numpy as np

from gpuviz_app.core.history import MetricsHistory
from gpuviz_app.core.snapshot import Snapshot
from gpuviz_app.render.upload import HostUpload, as_numpy
from gpuviz_app.render.views.weights import WeightsView
from gpuviz_app.render.views.weights.plots import NOT_RECORDED
from gpuviz_app.render.views.weights.tiles import NO_PICTURES
from gpuviz_app.store.tensorboard_events import Histograms
from gpuviz_app.store.tensorboard_histograms import LoggedHistograms

STEPS = 6


class RecordingUpload(HostUpload):
    def __init__(self):
        super().__init__()
        self.written = {}

    def write_texture(self, texture, data, offset=None):
        super().write_texture(texture, data, offset)
        self.written[id(texture)] = as_numpy(data).copy()


def logged(spread: float, values: int) -> Histograms:
    """A tag's histograms over STEPS steps: 10 uniform buckets widening step by step."""
    edges = [np.linspace(-spread * (s + 1), spread * (s + 1), 11) for s in range(STEPS)]
    counts = [np.bincount(np.arange(values) % 10, minlength=10).astype(float) for _ in range(STEPS)]
    cum = np.concatenate([np.r_[0.0, np.cumsum(c)] for c in counts])
    return Histograms(np.arange(STEPS, dtype=np.int64), np.array([e[0] for e in edges]),
                      np.array([e[-1] for e in edges]), np.arange(STEPS + 1) * 11, np.concatenate(edges), cum)


def imported_snapshot() -> Snapshot:
    payload = LoggedHistograms({"conv1.weight": logged(0.1, 90), "fc.weight": logged(0.2, 500)}).payload_at(STEPS)
    return Snapshot(run_id=1, step=STEPS, wall_time=0.0, metrics=MetricsHistory(capacity=2), latest={},
                    parts={"weights": payload}, versions={"weights": STEPS})


def test_logged_histograms_draw_their_counts_and_say_what_is_not_recorded(view_canvas):
    view = WeightsView()
    upload = RecordingUpload()
    canvas = view_canvas([view], size=(960, 640), upload=upload)
    snap = imported_snapshot()
    payload = snap.parts["weights"]
    assert canvas.push(snap)
    pixels = canvas.render()
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 20
    # no weight pictures: no tiles, and a line saying why
    assert view.tiles.tiles == [] and view.tiles.hover.text == NO_PICTURES
    # the largest tag's distribution, from the logged counts, titled by its tag
    assert view.focus_layer() == 1 and view.distribution.plot.title == "fc.weight"
    assert view.distribution.plot.message == "" and view.distribution.density.columns == STEPS
    np.testing.assert_array_equal(upload.written[id(view.distribution.density.counts)][:STEPS],
                                  as_numpy(payload.counts[1, :STEPS]))
    assert view.ridges.fill.count > 0
    # health (gradient norms, update ratios) is not in a log of histograms
    assert view.health.grad.message == NOT_RECORDED and view.health.ratio.message == NOT_RECORDED
    assert view.health.grad.legend == [] and view.health.ratio.legend == []
    # nor are gradients: the distributions say so and draw nothing
    view.set_options({"histogram": "gradients"})
    canvas.push(snap)
    canvas.render()
    assert view.distribution.plot.message == NOT_RECORDED and view.distribution.density.columns == 0
    assert view.ridges.plot.message == NOT_RECORDED and view.ridges.fill.count == 0
    assert view.distribution.plot.title == "gradient of fc.weight"


def test_a_live_runs_view_says_nothing_is_missing(view_canvas):
    """The same checks on a live payload find everything recorded (no false "not recorded")."""
    import torch
    from torch import nn

    from gpuviz_app.core.probes.weights.probe import WeightsProbe
    from gpuviz_app.core.run_context import RunContext

    model = nn.Sequential(nn.Linear(4, 3))
    step = [0]
    context = RunContext(model=model, device=torch.device("cpu"), inputs=torch.zeros(1, 4),
                         step_source=lambda: step[0])
    probe = WeightsProbe(context)
    for step[0] in range(1, 4):
        model(torch.randn(8, 4)).square().mean().backward()
        probe.tracker(context)
    snap = Snapshot(run_id=1, step=3, wall_time=0.0, metrics=MetricsHistory(capacity=2), latest={},
                    parts={"weights": probe(context)}, versions={"weights": 1})
    view = WeightsView()
    view.set_options({"histogram": "gradients"})
    canvas = view_canvas([view], size=(960, 640))
    canvas.push(snap)
    canvas.render()
    assert view.distribution.plot.message == "" and view.ridges.plot.message == ""
    assert view.health.grad.message == "" and view.tiles.hover.text == ""
