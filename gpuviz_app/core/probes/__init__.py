"""Probes: reductions a view needs, computed on the training device between steps.

A probe is created per run from a `RunContext` (the model, a sample of its data, a step
hook) and never sees a trainer, so it works on any model: the built-in trainer's, a user's
script's, or one attached from another process. This package is torch-free: each probe's
module is imported by its factory on first use, on the training thread, because those
modules import torch (which takes a while) and would otherwise freeze a window that has
just appeared.
"""

from __future__ import annotations

from typing import Any, Callable

ProbeFactory = Callable[[Any], "Probe"]


class Probe:
    """One view's reductions for one run. Every member a caller may use is declared here;
    the defaults do nothing, so a probe overrides only what it needs."""

    name = "probe"
    budget = 0.1  # of the training time, at most, spent in calls (see `ProbeScheduler`)

    def __call__(self, context: Any) -> Any:
        """The payload for the run's current step (tensors on the training device)."""
        raise NotImplementedError

    def configure(self, options: dict[str, Any]) -> None:
        """The view's options that concern the computation; unknown keys are ignored."""

    def act(self, action: str) -> None:
        """A one-off request from the view (e.g. the landscape's "recentre")."""

    def set_shown(self, shown: bool) -> None:
        """Whether the probe's view is on screen; probes that work between snapshots stop then."""

    def settle(self, context: Any, timeout: float | None = None, final: bool = False) -> bool:
        """Finish background work so the next call does not depend on timing; True when done.
        `final`: the run ended or a picture is about to be exported, so the payload must
        describe the weights as they are now (the loss surface re-centres)."""
        return True

    def close(self) -> None:
        """Stop what the probe started (hooks, threads); called when its run ends."""


def _landscape(context: Any) -> Probe:
    from gpuviz_app.core.probes.landscape.probe import landscape_probe

    return landscape_probe(context)


def _weights(context: Any) -> Probe:
    from gpuviz_app.core.probes.weights.probe import weights_probe

    return weights_probe(context)


def _embedding(context: Any) -> Probe:
    from gpuviz_app.core.probes.embedding.probe import embedding_probe

    return embedding_probe(context)


# name -> factory taking the run context; each imports its module on first call.
PROBES: dict[str, ProbeFactory] = {
    "landscape": _landscape,
    "weights": _weights,
    "embedding": _embedding,
}


def probe_factory(name: str) -> ProbeFactory:
    return PROBES[name]


def probe_factories(names: set[str] | list[str]) -> dict[str, ProbeFactory]:
    """The factories of the named probes (unknown names are views without a probe)."""
    return {name: PROBES[name] for name in names if name in PROBES}
