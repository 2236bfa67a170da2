"""The embedding probe: a layer's activations for a fixed sample, projected on the training device.

The sample is drawn from the run context's inputs, whatever the model and the task
(classification, regression, inputs only). Every `every` steps (and within the probe's
time budget) the model runs on the sample in chunks under no_grad with a hook on the
chosen layer; the activations are projected to 2-D or 3-D by `WarmPCA` (or handed to a
t-SNE/UMAP thread) without leaving the device. The payload is float32 positions and
labels shaped exactly like the view's GL buffers, so a CUDA-GL path can copy them device
to device.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from gpuviz_app.core.probes import Probe
from gpuviz_app.core.probes.embedding.frame import EmbeddingFrame
from gpuviz_app.core.probes.embedding.neighbour_layout import MAX_POINTS, METHODS, NeighbourLayout, missing_extra
from gpuviz_app.core.probes.embedding.projection import WarmPCA, align, normalise
from gpuviz_app.core.run_context import RunContext

PENULTIMATE = "penultimate"
DEFAULT_OPTIONS: dict[str, Any] = {"layer": PENULTIMATE, "samples": 10_000, "dims": 2, "method": "pca",
                                   "every": 10}
# Activations kept on the device at most (elements); a larger sample is cut to fit.
MAX_ELEMENTS = 1 << 28
CHUNK = 4096


def leaf_layers(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Names of the model's leaf modules in the order a forward pass runs them."""
    order: list[str] = []
    hooks = []
    for name, module in model.named_modules():
        if name and not any(True for _ in module.children()):
            hooks.append(module.register_forward_hook(lambda m, i, o, name=name: order.append(name)))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    return list(dict.fromkeys(order))


def last_parametrised(model: nn.Module, order: list[str]) -> str:
    modules = dict(model.named_modules())
    with_params = [n for n in order if any(True for _ in modules[n].parameters(recurse=False))]
    if not with_params:
        raise ValueError("the model has no layer with parameters")
    return with_params[-1]


def sample_labels(context: RunContext, index: torch.Tensor) -> torch.Tensor:
    """float32 labels of the rows `index`: class numbers, the first target column, or zeros."""
    targets = context.targets
    if targets is None:
        return torch.zeros(len(index), device=index.device, dtype=torch.float32)
    rows = targets[index]
    if context.classification and rows.dim() > 1 and rows.shape[1] > 1:
        return rows.argmax(dim=1).to(torch.float32)  # one-hot or probabilities
    return rows.reshape(len(index), -1)[:, 0].to(torch.float32)


class EmbeddingProbe(Probe):
    """Keeps the sample, the warm PCA basis and the previous positions of one run."""

    name = "embedding"
    budget = 0.2

    def __init__(self, context: RunContext, options: dict[str, Any] | None = None) -> None:
        self.options = dict(DEFAULT_OPTIONS)
        self.configure(options or {})
        model = context.model
        was_training = model.training
        model.eval()
        try:
            self.layers = tuple(leaf_layers(model, context.inputs[:2]))
        finally:
            model.train(was_training)
        self._final = last_parametrised(model, list(self.layers))
        self._key: tuple | None = None
        self._frame_no = 0
        self._epoch = 0
        self._sample_id = 0
        self._last: EmbeddingFrame | None = None
        self._last_step = -1
        self._pca = WarmPCA(2)
        self._layout: NeighbourLayout | None = None
        self._shown: torch.Tensor | None = None
        self._buffer: torch.Tensor | None = None
        self._limited = ""
        self._missing = ""
        self._now = False  # the next call projects whatever `every` says (see `settle`)

    def settle(self, context: RunContext, timeout: float | None = None, final: bool = False) -> bool:
        """`final` (a run's last step, or a picture about to be exported): the next call projects
        the weights as they are then, so the cloud shows the same step as the other views."""
        if final and self._last_step != context.step:
            self._now = True
        return True

    def configure(self, options: dict[str, Any]) -> None:
        """Apply the view's choices (unknown keys ignored); takes effect at the next call."""
        for key, value in options.items():
            if key in DEFAULT_OPTIONS and isinstance(value, type(DEFAULT_OPTIONS[key])):
                self.options[key] = value
        self.options["dims"] = 3 if self.options["dims"] == 3 else 2
        self.options["samples"] = max(1, self.options["samples"])
        self.options["every"] = max(1, self.options["every"])
        if self.options["method"] not in ("pca", *METHODS):
            self.options["method"] = "pca"

    # -- the sample ---------------------------------------------------------------------------
    def _choose_sample(self, context: RunContext, wanted: int, width: int) -> None:
        n = len(context.inputs)
        device = context.inputs.device
        wanted = max(1, min(int(wanted), n, MAX_ELEMENTS // max(width, 1)))
        if wanted >= n:
            index = torch.arange(n, device=device)
        else:
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(1234))[:wanted]
            index = perm.sort().values.to(device)
        self.index = index
        self.labels = sample_labels(context, index)
        self._sample_id += 1

    # -- activations --------------------------------------------------------------------------
    def _hook(self, model: nn.Module, layer: str, captured: list) -> Any:
        modules = dict(model.named_modules())
        if layer == PENULTIMATE:
            return modules[self._final].register_forward_pre_hook(lambda m, args: captured.append(args[0]))

        def keep(m, i, out):
            captured.append(out[0] if isinstance(out, (tuple, list)) else out)

        return modules[layer].register_forward_hook(keep)

    def _run(self, context: RunContext, layer: str, index: torch.Tensor,
             keep: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Activations (N, D) of `layer` and predictions (N,) for the rows `index`, in chunks."""
        model, inputs = context.model, context.inputs
        device = inputs.device
        captured: list[torch.Tensor] = []
        hook = self._hook(model, layer, captured)
        was_training = model.training
        model.eval()
        n = len(index)
        predicted = torch.empty(n, device=device, dtype=torch.float32)
        buffer = self._buffer if keep else None
        try:
            with torch.no_grad():
                for start in range(0, n, CHUNK):
                    rows = index[start : start + CHUNK]
                    out = model(inputs[rows])
                    out = out[0] if isinstance(out, (tuple, list)) else out
                    predicted[start : start + len(rows)] = context.predictions(out)
                    act = captured.pop().reshape(len(rows), -1)
                    if buffer is None or buffer.shape != (n, act.shape[1]):
                        buffer = torch.empty(n, act.shape[1], device=device, dtype=torch.float32)
                    buffer[start : start + len(rows)] = act
        finally:
            hook.remove()
            model.train(was_training)
        if keep:
            self._buffer = buffer
        return buffer, predicted

    # -- the call -------------------------------------------------------------------------------
    def __call__(self, context: RunContext) -> EmbeddingFrame | None:
        o = self.options
        layer = o["layer"] if o["layer"] in self.layers else PENULTIMATE
        method = o["method"]
        key = (layer, o["samples"], o["dims"], method)
        restart = key != self._key
        if not restart and not self._now and self._last is not None and context.step - self._last_step < o["every"]:
            return self._last
        if restart:
            self._restart(context, key, layer, method)
        elif self._layout is not None and self._layout.busy and self._shown is not None:
            return self._last  # the next layout is still being computed
        activations, predicted = self._run(context, layer, self.index, keep=True)
        try:
            positions, status = self._project(activations, method)
        except RuntimeError as exc:  # e.g. non-finite activations of a diverged run: never stop training
            self._pca.reset()
            if self._last is None:
                return None
            self._frame_no += 1
            self._last_step = context.step
            self._last = replace(self._last, frame=self._frame_no, status=f"projection failed: {exc}")
            return self._last
        if positions is None:
            return self._last
        self._now = False
        self._last_step = context.step
        self._frame_no += 1
        self._last = EmbeddingFrame(
            frame=self._frame_no, step=context.step, positions=positions, labels=self.labels,
            predicted=predicted, index=self.index, sample_id=self._sample_id, epoch=self._epoch,
            dims=o["dims"], layer=self._layer_title(layer), features=activations.shape[1], method=method,
            classes=list(context.classes), kind=context.kind, inputs=context.host_inputs,
            layers=(PENULTIMATE, *self.layers),
            status=status, bounds=torch.stack([positions.amin(dim=0), positions.amax(dim=0)]),
        )
        return self._last

    def _restart(self, context: RunContext, key: tuple, layer: str, method: str) -> None:
        self._key = key
        self._epoch += 1
        self._buffer = None
        wanted = self.options["samples"]
        self._limited = ""
        rows = len(context.inputs)
        if method in METHODS and wanted > MAX_POINTS and rows > MAX_POINTS:
            wanted = MAX_POINTS
            self._limited = f"; {METHODS[method]} sample limited to {MAX_POINTS:,} points"
        first_row = torch.zeros(1, dtype=torch.int64, device=context.inputs.device)
        width = self._run(context, layer, first_row, keep=False)[0].shape[1]
        self._choose_sample(context, wanted, width)
        if len(self.index) < min(wanted, rows):
            self._limited = f"; sample limited to {len(self.index):,} points ({width:,} features each)"
        self._pca = WarmPCA(self.options["dims"])
        self._shown = None
        if self._layout is not None:
            self._layout.cancel()
        self._missing = missing_extra() if method in METHODS else ""
        self._layout = NeighbourLayout(method, self.options["dims"]) if method in METHODS else None

    def _project(self, activations: torch.Tensor, method: str) -> tuple[torch.Tensor | None, str]:
        if method == "pca":
            return self._pca(activations), self._limited.lstrip("; ")
        name = METHODS[method]
        layout = self._layout
        if self._missing or layout.error:
            return self._pca(activations), (self._missing or layout.error) + "; showing PCA"
        done = layout.take()
        if not layout.busy:
            layout.submit(activations.clone(), self._frame_no)
        if done is None:
            if self._shown is None:  # PCA until the first layout is ready
                return self._pca(activations), f"computing {name}…" + self._limited
            return None, ""
        if self._shown is None:
            self._epoch += 1  # from PCA to the first layout: a new picture, not a transition
        positions = align(normalise(done[0]), self._shown)
        self._shown = positions
        return positions, f"{name}, layout {layout.runs}" + self._limited

    def _layer_title(self, layer: str) -> str:
        return f"input of {self._final}" if layer == PENULTIMATE else layer


def embedding_probe(context: RunContext) -> EmbeddingProbe:
    return EmbeddingProbe(context)
