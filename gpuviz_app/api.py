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
`python train.py`, `attach` sends to a gpuviz window in another process over ZeroMQ (see
`gpuviz_app.sources.sender`): the probes still run here, on the script's device, and only their
reduced payloads and the scalars cross, as raw arrays with a JSON header (never pickles). The
address is `GPUVIZ_ADDRESS` or a Unix socket private to the user; with `launch=True` (the
default when a display exists) a window is started when none listens. A window that is slow,
closed or absent costs the loop nothing: frames are dropped, `viz.step` never waits.
`GPUVIZ_ADDRESS=none` turns sending off. Importing this module loads neither torch, zmq nor Qt.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Any, Callable, Sequence

NOTICE = "gpuviz: no gpuviz is listening in this process (start the script with `gpuviz run`); not recording"
REMOTE_NOTICE = ("gpuviz: no gpuviz is listening at {address} yet; training goes on, and a window started "
                 "with `gpuviz` will show this run")
_noticed = False


class Run:
    """What `attach` returns: call `step` after each optimisation step, `close` at the end."""

    def __init__(self, attached: Any = None, host: Any = None, owns_host: bool = False, job: Any = None) -> None:
        self._attached = attached
        self._host = host
        self._owns_host = owns_host
        self._job = job  # this rank's part in a distributed job (every rank has one)
        self.closed = False

    @property
    def recording(self) -> bool:
        """Whether a gpuviz host receives this run (False: `step` does nothing)."""
        return self._attached is not None and not self.closed

    @property
    def step_count(self) -> int:
        if self._attached is not None:
            return self._attached.step_count
        return self._job.steps if self._job is not None else 0

    @property
    def rank(self) -> int:
        """This process's rank in a distributed job (0 outside one)."""
        return self._job.rank if self._job is not None else 0

    def step(self, loss: Any = None, **scalars: Any) -> None:
        """One optimisation step happened. `loss` and the named scalars (numbers or one-element
        tensors, which stay on their device) go to the metrics; the probes' step hooks run.
        Never reads a value back to the host. In a distributed job every rank calls it (the
        ranks meet in one collective every `every` steps); rank 0's window shows them all."""
        if self.closed:
            return
        if self._job is not None:
            loss = self._job.step(loss)  # a loss the job read is recorded as the number it read
        if self._attached is None:
            return
        self._attached.record({"loss": loss, **scalars})
        self._host.after_step(self._attached)

    def log(self, **scalars: Any) -> None:
        """Scalars measured after the last step (an evaluation), recorded at that step without
        starting a new one; no step hooks run. Numbers or one-element tensors, never read back."""
        if self._attached is None or self.closed:
            return
        self._attached.record(scalars, advance=False)

    def close(self) -> None:
        """The run ended: the host publishes its final snapshot. Safe to call twice. In a
        distributed job no collective is made here, so a rank that failed leaves no rank waiting."""
        if self.closed:
            return
        self.closed = True
        if self._job is not None:
            self._job.close()
        if self._attached is not None:
            self._attached.closed = True
            self._host.unbind(self._attached)
            if self._owns_host:
                self._host.close()

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
    address: str | None = None,
    token: str | None = None,
    launch: bool | None = None,
    dist: bool | str = "auto",
    every: int = 10,
) -> Run:
    """Watch `model` train in your own loop.

    `sample` is `(x, y)` or `x`: the fixed rows the embedding view projects and the loss
    surface is evaluated on (moved to the model's device; needs `loss_fn` and `y` for the loss
    surface). Integer class targets colour the embedding by class, float targets by value.
    `layers` are glob patterns of the parameter names the weights view tracks ("encoder.*").

    Outside `gpuviz run`, the run is sent to the window at `address` (default `GPUVIZ_ADDRESS`,
    else this user's socket), with `token` (default `GPUVIZ_TOKEN`) for a window listening on a
    network address; `launch` starts a window when none listens (default: when a display
    exists and `GPUVIZ_LAUNCH` is not 0).

    Under `torchrun` (an initialised `torch.distributed` group of two or more ranks), `dist="auto"`
    makes every rank take part: all ranks call `attach` and `viz.step` alike, meet in one
    collective every `every` steps, and rank 0 alone sends the job, as one run, to the window
    (see `gpuviz_app.core.distributed.job`). `dist="off"` (or False) watches each rank alone;
    `dist=True` requires the group.
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"gpuviz attach: every must be a positive whole number of steps, not {every!r}")
    from gpuviz_app.core.distributed.job import wanted

    if wanted(dist):
        return _attach_distributed(model, loss_fn, optimizer, sample, name, layers, address, token, launch, every)
    return _attach(model, loss_fn, optimizer, sample, name, layers, address, token, launch)


def _attach(model: Any, loss_fn: Callable | None, optimizer: Any, sample: Any, name: str,
            layers: str | Sequence[str] | None, address: str | None, token: str | None, launch: bool | None,
            views: Sequence[str] | None = None, job: Any = None) -> Run:
    from gpuviz_app.core.attached_run import current_host

    host = current_host()
    owns_host = False
    if host is None:
        host = _remote_host(address, token, launch, views)
        if host is None:
            return Run(job=job)
        owns_host = True
    if sample is None:
        raise ValueError("gpuviz attach: give sample=(x, y) or sample=x, a few rows of your data for the views")
    from gpuviz_app.core.attached_run import AttachedRun, build_context

    patterns = (layers,) if isinstance(layers, str) else tuple(layers or ())
    box: list[AttachedRun] = []
    context = build_context(model, sample, loss_fn, name, step_source=lambda: box[0].step_count,
                            layers=patterns)
    attached = AttachedRun(context, optimizer=optimizer, name=name)
    box.append(attached)
    if job is not None:
        from gpuviz_app.core.distributed.job import LEADER_BUDGET_SCALE, leader_sink

        context.budget_scale = LEADER_BUDGET_SCALE
        job.sink = leader_sink(attached, host, job)
    host.bind(attached)
    run = Run(attached, host, owns_host, job)
    if owns_host:
        atexit.register(run.close)  # a script that ends without `viz.close()` still sends its last step
    return run


def _attach_distributed(model: Any, loss_fn: Callable | None, optimizer: Any, sample: Any, name: str,
                        layers: str | Sequence[str] | None, address: str | None, token: str | None,
                        launch: bool | None, every: int) -> Run:
    """Every rank joins the job (the handshake is a collective, so it comes first); rank 0 then
    attaches as a single process would, on the module DDP wraps; the other ranks make no socket
    and no probes."""
    if sample is None:  # checked on every rank, so all raise alike
        raise ValueError("gpuviz attach: give sample=(x, y) or sample=x, a few rows of your data for the views")
    from gpuviz_app.core.distributed.job import DistributedJob, leader_layers, unwrap

    job = DistributedJob(model, every)
    run = Run(job=job)
    if job.leader:
        views = ("weights",) if job.sharded else None  # a forward through DTensors needs every rank
        run = _attach(unwrap(model), loss_fn, optimizer, sample, name, leader_layers(model, layers), address,
                      token, launch, views, job)
    return run


def _remote_host(address: str | None, token: str | None, launch: bool | None,
                 views: Sequence[str] | None = None) -> Any:
    """A sender to a window in another process, or None (after one notice) when sending is off."""
    global _noticed
    address = address or os.environ.get("GPUVIZ_ADDRESS", "").strip() or None
    if address in ("none", "off"):
        if not _noticed:
            _noticed = True
            print(NOTICE, file=sys.stderr)
        return None
    from gpuviz_app.sources.address import AddressError, default_address, listening
    from gpuviz_app.sources.sender import RemoteSender, launch_window

    try:
        address = address or default_address()
        if launch is None:
            launch = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) \
                and os.environ.get("GPUVIZ_LAUNCH", "1") != "0"
        up = launch_window(address) if launch else listening(address)
        sender = RemoteSender(address, token=token if token is not None else os.environ.get("GPUVIZ_TOKEN", ""),
                              views=views)
    except AddressError as exc:
        raise ValueError(f"gpuviz attach: {exc}") from None
    if not up and not _noticed:
        _noticed = True
        print(REMOTE_NOTICE.format(address=address), file=sys.stderr)
    return sender
