"""t-SNE and UMAP layouts through torchdr (the `embedding-extra` extra), on a background thread.

A layout takes seconds to minutes, so it never runs inside a training step: the probe
hands a copy of the activations to `NeighbourLayout.submit`, keeps training, and picks up
the finished layout at a later frame. Each layout starts from the previous one, so the
map changes as the network learns rather than being re-drawn from scratch.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any

import torch

from gpuviz_app.core.exit_join import close_at_exit

log = logging.getLogger(__name__)

METHODS = {"tsne": "t-SNE", "umap": "UMAP"}
EXTRA = "embedding-extra"
# Without a sparse neighbour backend torchdr holds N x N distances: keep N reasonable.
MAX_POINTS = 20_000


class LayoutCancelled(Exception):
    """Raised inside torchdr's optimisation loop to stop a layout nobody will show."""


def missing_extra() -> str:
    """Why neighbour layouts are unavailable ('' when torchdr can be imported)."""
    for module in ("torchdr", "matplotlib"):  # torchdr imports matplotlib without declaring it
        if importlib.util.find_spec(module) is None:
            return (f"t-SNE/UMAP need the optional '{EXTRA}' extra ({module} is not installed): "
                    f"pip install 'gpuviz-app[{EXTRA}]'")
    return ""


def _estimator(method: str, dims: int, device: str, init: Any, max_iter: int, cancelled: threading.Event) -> Any:
    import torchdr

    common = dict(n_components=dims, device=device, max_iter=max_iter, random_state=0, verbose=False)
    warm = init is not None
    if warm:
        common.update(init=init, init_scaling=1.0)
    if method == "tsne":
        extra = {"early_exaggeration_iter": 0} if warm else {}
        estimator = torchdr.TSNE(perplexity=30, backend=None, **common, **extra)
    elif method == "umap":
        estimator = torchdr.UMAP(n_neighbors=15, backend=None, **common)
    else:
        raise ValueError(f"unknown layout method {method!r}")
    # torchdr calls these lifecycle hooks at each stage and step: a cancelled layout stops there.
    for hook in ("on_training_step_start", "on_affinity_computation_end"):
        original = getattr(estimator, hook)

        def checked(original=original) -> None:
            if cancelled.is_set():
                raise LayoutCancelled()
            original()

        setattr(estimator, hook, checked)
    return estimator


class NeighbourLayout:
    """One layout computed at a time on a daemon thread; the newest result waits to be taken."""

    def __init__(self, method: str, dims: int) -> None:
        self.method = method
        self.dims = dims
        self.error = ""
        self.runs = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._result: tuple[torch.Tensor, int] | None = None
        self._last: torch.Tensor | None = None
        self._cancelled = threading.Event()
        close_at_exit(self)

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, activations: torch.Tensor, tag: int) -> bool:
        """Start a layout of `activations` (owned by the layout from now on) unless one is running."""
        if self.busy or self.error:
            return False
        init = self._last if self._last is not None and len(self._last) == len(activations) else None
        self._thread = threading.Thread(target=self._run, args=(activations, init, tag),
                                        name=f"gpuviz-{self.method}", daemon=True)
        self._thread.start()
        return True

    def _run(self, activations: torch.Tensor, init: torch.Tensor | None, tag: int) -> None:
        try:
            max_iter = 250 if init is not None else 750
            estimator = _estimator(self.method, self.dims, str(activations.device), init, max_iter,
                                   self._cancelled)
            layout = estimator.fit_transform(activations)
            layout = torch.as_tensor(layout).detach().to(activations.device, torch.float32).contiguous()
        except LayoutCancelled:
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user, never raised into training
            log.exception("%s layout failed", self.method)
            with self._lock:
                self.error = f"{METHODS.get(self.method, self.method)} failed: {exc}"
            return
        with self._lock:
            if not self._cancelled.is_set():
                self._last = layout
                self._result = (layout, tag)
                self.runs += 1

    def take(self) -> tuple[torch.Tensor, int] | None:
        """The newest finished layout and the tag it was submitted with, once."""
        with self._lock:
            result, self._result = self._result, None
        return result

    def cancel(self) -> None:
        """Stop the layout being computed (at torchdr's next step) and forget results to come."""
        self._cancelled.set()
        with self._lock:
            self._result = None

    def close(self, timeout: float = 5.0) -> None:
        """Cancel and wait for the thread, so that no torch work is left running at exit."""
        self.cancel()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)
