"""A `torch.distributed` job watched as one run: every rank takes part, rank 0 shows it.

Every rank makes a `DistributedJob` at `attach` (the same code point on all ranks). There, one
`all_gather_into_tensor` of a few integers checks that the ranks agree (protocol, `every`, the
sharded tensors' names and shapes); a mismatch raises the same sentence on every rank, so none
is left waiting. Then at each `every`-th `viz.step`, every rank launches one asynchronous
`all_gather_into_tensor` of its packed row: its figures of the window (loss summed on the
device, wall time, time waiting for the others, see `timing`) and the mergeable statistics of
its shards of DTensor parameters and their gradients (`stats.local_stats`). The step does not
wait for it: a window's gather is waited at the next window, when it has long completed unless
a rank lags. Only the leader (rank 0) reads the result and hands a copy of it to its sink
(`leader.LeaderSink`, which reads many windows at once). The leader alone has a window and
probes; no collective is ever made on one rank only, and `close` makes none (a rank that
failed must not leave the others waiting in gpuviz): it waits a bounded time for the last
gather, else abandons it.

Replicated parameters (DDP) are the same on every rank, so the leader's own weights probe shows
them and they are not gathered. A DTensor's shard is counted by the ranks at coordinate 0 of
its mesh's replicated dimensions only, so a replicated copy of a shard is not counted twice.
"""

from __future__ import annotations

import glob
import logging
import time
import zlib
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Sequence

import numpy as np

from gpuviz_app.core.distributed.leader import FIGURES, LEADER, LOSS_SUM, JobLayout, LeaderSink
from gpuviz_app.core.distributed.timing import ALLREDUCE, OWN_GATHER, wait_timer

log = logging.getLogger(__name__)

PROTOCOL = 1
CLOSE_WAIT_S = 10.0  # at close, at most this long for the last gather, which every rank launched
NO_LAYER = "\n"  # a name pattern no parameter has
# The leader's probes spend this part of their usual budgets: while the leader computes a
# view, every other rank waits for it in the next collective (benchmarks/README.md, "distributed").
LEADER_BUDGET_SCALE = 0.025

Sink = Callable[[np.ndarray], None]  # one gathered window's table, (world_size, row_len)

# The buffers the newest jobs launched gathers into, kept until the interpreter's teardown. The
# process group's thread lets go of a completed gather a moment after `wait` returns; a tensor
# made in Python whose last reference that thread drops must take the GIL, and a thread waiting
# for the GIL when the interpreter starts finalizing aborts the process ("terminate called
# without an active exception"). A rank whose job ends right after its last gather could get
# there first.
_GATHER_BUFFERS: deque[Any] = deque(maxlen=16)


def wanted(dist: Any) -> bool:
    """Whether `attach(dist=...)` makes a distributed job here (see `api.attach`)."""
    if dist in (False, "off"):
        return False
    if dist not in (True, "auto"):
        raise ValueError(f"gpuviz attach: dist must be 'auto', 'off', True or False, not {dist!r}")
    import torch.distributed as torch_dist

    up = torch_dist.is_available() and torch_dist.is_initialized()
    if dist is True and not up:
        raise ValueError("gpuviz attach: dist=True needs an initialised torch.distributed process group "
                         "(launch with torchrun and call torch.distributed.init_process_group first)")
    return up and (dist is True or torch_dist.get_world_size() > 1)


def unwrap(model: Any) -> Any:
    """The module a DDP wrapper holds (the leader's probes run on it: DDP's own forward may
    make collectives, which must never happen on one rank alone)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def sharded_parameters(model: Any) -> list[tuple[str, Any]]:
    """The model's DTensor parameters (FSDP2 `fully_shard`, tensor parallel), by name."""
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # a torch without DTensor has none
        return []
    return [(name, p) for name, p in unwrap(model).named_parameters() if isinstance(p, DTensor)]


def leader_layers(model: Any, layers: str | Sequence[str] | None) -> str | Sequence[str] | None:
    """The weights view's name patterns on the leader: the user's, less the DTensor parameters
    (reading a whole DTensor needs every rank; their merged statistics stand in for them)."""
    sharded = {id(p) for _, p in sharded_parameters(model)}
    if not sharded:
        return layers
    from gpuviz_app.core.probes.weights.probe import find_layers

    patterns = (layers,) if isinstance(layers, str) else tuple(layers or ())
    kept = [glob.escape(layer.name) for layer in find_layers(unwrap(model), patterns) if id(layer.weight) not in sharded]
    return kept or [NO_LAYER]


def _counted_here(param: Any) -> bool:
    """Whether this rank's shard of `param` is counted: it is on the mesh, at coordinate 0 of
    every mesh dimension over which the parameter is replicated."""
    coordinate = param.device_mesh.get_coordinate()
    if coordinate is None:
        return False
    return all(c == 0 for c, placement in zip(coordinate, param.placements) if placement.is_replicate())


def _comm_device(torch: Any, torch_dist: Any) -> Any:
    backend = str(torch_dist.get_backend()).lower()
    if "nccl" in backend and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _gather(torch_dist: Any) -> Callable[..., Any]:
    """Gather equal-sized tensors from every rank into one (the name changed in torch 2.13)."""
    return getattr(torch_dist, "all_gather_single", None) or torch_dist.all_gather_into_tensor


@dataclass
class _Window:
    """A launched gather: its work handle and the buffer it fills."""

    work: Any
    gathered: Any
    send: Any  # kept alive until the gather completes


class DistributedJob:
    """This rank's part in watching the job (see module doc). `leader` tells whether this rank
    publishes; `sink(payload)` is called on the leader with each merged window."""

    def __init__(self, model: Any, every: int, sink: Sink | None = None) -> None:
        import torch
        import torch.distributed as torch_dist
        from torch.nn.parallel import DistributedDataParallel

        from gpuviz_app.core.distributed.stats import STATS_LEN

        self._torch, self._dist = torch, torch_dist
        self.rank = torch_dist.get_rank()
        self.world_size = torch_dist.get_world_size()
        self.leader = self.rank == LEADER
        self.every = every
        self.sink = sink
        self.device = _comm_device(torch, torch_dist)
        self.sharded = sharded_parameters(model)
        self.names = [f"{kind} {name}" for name, _ in self.sharded for kind in ("weight", "grad")]
        self.row_len = FIGURES + len(self.names) * STATS_LEN
        self.closed = False
        self.steps = 0
        self._handshake()
        self.timer = wait_timer(model, every) if isinstance(model, DistributedDataParallel) else None
        self.wait_source = ALLREDUCE if self.timer is not None else OWN_GATHER
        self._loss_device: Any = None  # the sum of the window's tensor losses, on their device
        self._loss_host = [0.0, 0.0]  # the sum of the plain-number losses, and the count of all
        self._wait = 0.0
        self._pending: _Window | None = None
        # One send row and one gathered table, reused: a window's gather is complete and read
        # before the next one is launched into them.
        self._send = torch.zeros(self.row_len, dtype=torch.float64, device=self.device)
        self._gathered = torch.zeros(self.world_size * self.row_len, dtype=torch.float64, device=self.device)
        _GATHER_BUFFERS.extend((self._send, self._gathered))
        # The window's figures are written on the host; with a CPU collective, straight into the send row.
        self._figures_copied = self.device.type != "cpu"
        self._figures = (torch.zeros(FIGURES, dtype=torch.float64) if self._figures_copied
                         else self._send[:FIGURES]).numpy()
        self._window_start = time.perf_counter()

    # -- attach ---------------------------------------------------------------------------
    def _handshake(self) -> None:
        """One gather of what every rank must agree on; any difference raises on every rank."""
        torch = self._torch
        shapes = ";".join(f"{name}{tuple(p.shape)}" for name, p in self.sharded)
        mine = torch.tensor([PROTOCOL, self.every, len(self.sharded), zlib.crc32(shapes.encode()), self.row_len],
                            dtype=torch.int64, device=self.device)
        table = torch.empty(self.world_size * len(mine), dtype=torch.int64, device=self.device)
        _GATHER_BUFFERS.extend((mine, table))  # a rank that disagrees raises and ends at once
        _gather(self._dist)(table, mine)
        problem = handshake_problem(table.view(self.world_size, len(mine)).cpu().tolist())
        if problem:
            raise ValueError(problem)

    # -- each step --------------------------------------------------------------------------
    def step(self, loss: Any = None) -> Any:
        """One `viz.step` on this rank: the loss is summed on its device (a GPU's is never read
        back here); at every `every`-th step the window's gather is launched (and the previous
        one, complete by now, read). Returns the loss to record: a number once it was read."""
        if self.closed:
            return loss
        torch = self._torch
        if isinstance(loss, torch.Tensor):
            if loss.numel() != 1:
                raise ValueError(f"viz.step: loss must be a single number, not a tensor of shape {tuple(loss.shape)}")
            if loss.device.type == "cpu":  # reading it waits for nothing, and costs less than a kernel
                loss = loss.item()
                self._loss_host[0] += loss
            else:
                if self._loss_device is None or self._loss_device.device != loss.device:
                    self._loss_device = torch.zeros(1, dtype=torch.float64, device=loss.device)
                self._loss_device.add_(loss.detach().view(1))  # one kernel, no sync
            self._loss_host[1] += 1.0
        elif loss is not None:
            self._loss_host[0] += float(loss)
            self._loss_host[1] += 1.0
        if self.timer is not None and self.timer.every_step:
            self._wait += self.timer.take_step()
        self.steps += 1
        if self.steps % self.every == 0:
            self._next_window()
        return loss

    def _next_window(self) -> None:
        torch = self._torch
        blocked = 0.0
        if self._pending is not None:
            start = time.perf_counter()
            self._pending.work.wait()
            blocked = time.perf_counter() - start
            done, self._pending = self._pending, None
            if self.leader:
                self._merge(done.gathered)
        now = time.perf_counter()
        if self.timer is not None and not self.timer.every_step:
            self._wait = self.timer.take_window(self.every)
        send, gathered = self._send, self._gathered
        self._figures[:] = (*self._loss_host, now - self._window_start, self._wait + blocked, self.every, self.steps)
        figures = send[:FIGURES]
        if self._figures_copied:
            figures.copy_(torch.from_numpy(self._figures))
        if self._loss_device is not None:
            figures[LOSS_SUM:LOSS_SUM + 1].add_(self._loss_device.to(self.device))  # a copy only with gloo and CUDA
            self._loss_device.zero_()
        if self.names:
            self._stats_into(send[FIGURES:])
        work = _gather(self._dist)(gathered, send, async_op=True)
        self._pending = _Window(work, gathered, send)
        self._loss_host = [0.0, 0.0]
        self._wait = 0.0
        self._window_start = now

    def _stats_into(self, out: Any) -> None:
        from gpuviz_app.core.distributed.stats import STATS_LEN, local_stats

        tensors: list[Any] = []
        for _, param in self.sharded:
            here = _counted_here(param)
            tensors.append(param.to_local().detach() if here else None)
            grad = param.grad
            tensors.append(grad.to_local().detach() if here and grad is not None else None)
        rows = out.view(len(tensors), STATS_LEN)
        devices = {t.device for t in tensors if t is not None}
        if devices <= {self.device}:
            local_stats(tensors, out=rows)
        else:  # shards on another device than the collective's (gloo with CUDA tensors)
            rows.copy_(local_stats(tensors).to(self.device))

    def _merge(self, gathered: Any) -> None:
        """The leader hands a completed window's table to the sink (none: the leader has no
        window to show it, so nothing is kept)."""
        if self.sink is None:
            return
        self.sink(gathered.view(self.world_size, self.row_len).cpu().numpy().copy())

    # -- the end ------------------------------------------------------------------------------
    def close(self) -> None:
        """No new collective. The last gather, which every rank launched at the same step, is
        given `CLOSE_WAIT_S` to complete (a process group destroyed under a gather in flight
        aborts the process) and then read; one that fails or does not complete (a rank
        failed before it) is abandoned."""
        if self.closed:
            return
        self.closed = True
        pending, self._pending = self._pending, None
        if pending is not None and self._completes(pending) and self.leader:
            self._merge(pending.gathered)
        flush = getattr(self.sink, "flush", None)
        if flush is not None:  # the windows' rows not appended yet
            flush()

    def _completes(self, pending: _Window) -> bool:
        try:
            pending.work.wait(timedelta(seconds=CLOSE_WAIT_S))
        except Exception as exc:  # noqa: BLE001 - a rank that failed: nothing more to show
            log.info("gpuviz: the last gather of the job did not complete (%s)", exc)
            return False
        return True


FIELDS = ("protocol", "every", "sharded", "shapes", "row")


def handshake_problem(table: list[list[int]]) -> str:
    """One sentence naming the first thing a rank disagrees with rank 0 on ("" when none);
    the same on every rank, since every rank reads the same table."""
    lead = table[LEADER]
    for rank, row in enumerate(table):
        for name, mine, theirs in zip(FIELDS, row, lead):
            if mine == theirs:
                continue
            if name == "every":
                return (f"gpuviz attach: rank {rank} gave every={mine} but rank {LEADER} gave every={theirs}; "
                        "every rank must give the same value")
            if name == "protocol":
                return (f"gpuviz attach: rank {rank} runs gpuviz's distributed protocol {mine} but rank {LEADER} "
                        f"runs {theirs}; install the same gpuviz on every rank")
            if name == "sharded":
                return (f"gpuviz attach: rank {rank}'s model has {mine} DTensor parameters but rank {LEADER}'s "
                        f"has {theirs}; every rank must attach the same model")
            return (f"gpuviz attach: rank {rank}'s DTensor parameters differ from rank {LEADER}'s in names or "
                    "shapes; every rank must attach the same model")
    return ""


def leader_sink(attached: Any, host: Any, job: DistributedJob) -> LeaderSink:
    """The leader's sink for `attached` published by `host` (see `leader.LeaderSink`)."""
    return LeaderSink(attached, host, JobLayout(job.world_size, job.every, tuple(job.names), job.wait_source))
