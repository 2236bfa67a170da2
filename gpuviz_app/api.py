"""The public API: `attach` a model from your own training loop and send scalars at each step.

```python
import gpuviz_app as gv
viz = gv.attach(model, loss_fn=loss_fn, optimizer=opt, sample=(x_fixed, y_fixed), name="my-run")
for x, y in loader:
    ...; opt.step()
    viz.step(loss=loss, lr=opt.param_groups[0]["lr"])   # tensors stay on the device
viz.close()                                              # or: with gv.attach(...) as viz:
```

Run the script with `gpuviz run train.py` and `attach` binds to gpuviz in this process: the
same probes as the built-in trainer run on the script's model, on its device. Started as a plain
`python train.py` with no gpuviz around it, `attach` prints one line saying so and returns a
recorder that does nothing, so the loop runs as fast as without it (connecting to a window in
another process is not supported yet). Importing this module loads neither torch nor Qt.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

NOTICE = "gpuviz: no gpuviz is listening in this process (start the script with `gpuviz run`); not recording"
_noticed = False


class Run:
    """What `attach` returns: call `step` after each optimisation step, `close` at the end."""

    def __init__(self, attached: Any = None, host: Any = None) -> None:
        self._attached = attached
        self._host = host
        self.closed = False

    @property
    def recording(self) -> bool:
        """Whether a gpuviz host receives this run (False: `step` does nothing)."""
        return self._attached is not None and not self.closed

    @property
    def step_count(self) -> int:
        return self._attached.step_count if self._attached is not None else 0

    def step(self, loss: Any = None, **scalars: Any) -> None:
        """One optimisation step happened. `loss` and the named scalars (numbers or one-element
        tensors, which stay on their device) go to the metrics; the probes' step hooks run.
        Never reads a value back to the host."""
        if self._attached is None or self.closed:
            return
        self._attached.record({"loss": loss, **scalars})
        self._host.after_step(self._attached)

    def close(self) -> None:
        """The run ended: the host publishes its final snapshot. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if self._attached is not None:
            self._attached.closed = True
            self._host.unbind(self._attached)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def attach(
    model: Any,
    loss_fn: Callable[[Any, Any], Any] | None = None,
    optimizer: Any = None,
    sample: Any = None,
    name: str = "",
    layers: str | Sequence[str] | None = None,
) -> Run:
    """Watch `model` train in your own loop.

    `sample` is `(x, y)` or `x`: the fixed rows the embedding view projects and the loss
    surface is evaluated on (moved to the model's device; needs `loss_fn` and `y` for the loss
    surface). Integer class targets colour the embedding by class, float targets by value.
    `layers` are glob patterns of the parameter names the weights view tracks ("encoder.*").
    """
    global _noticed
    from gpuviz_app.core.attached_run import current_host

    host = current_host()
    if host is None:
        if not _noticed:
            _noticed = True
            print(NOTICE, file=sys.stderr)
        return Run()
    if sample is None:
        raise ValueError("gpuviz attach: give sample=(x, y) or sample=x, a few rows of your data for the views")
    from gpuviz_app.core.attached_run import AttachedRun, build_context

    patterns = (layers,) if isinstance(layers, str) else tuple(layers or ())
    box: list[AttachedRun] = []
    context = build_context(model, sample, loss_fn, name, step_source=lambda: box[0].step_count,
                            layers=patterns)
    attached = AttachedRun(context, optimizer=optimizer, name=name)
    box.append(attached)
    host.bind(attached)
    return Run(attached, host)
