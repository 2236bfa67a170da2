"""Four DDP replicas of one model trained side by side on every rank: one with DDP's own
gradient averaging, one with gpuviz's timing hook, one timed by DDP's reducer on every step and
one on every `SAMPLE_EVERY`-th; rank 0 saves the final states and the waits each timer measured,
for tests/distributed/test_timing.py."""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gpuviz_app.core.distributed.timing import AllreduceWaitTimer, DdpStatsWaitTimer

STEPS = 6
SAMPLED_STEPS = 30
SAMPLE_EVERY = 4


def main() -> None:
    folder = Path(sys.argv[1])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    try:
        models, optimisers = [], []
        for _ in range(4):
            torch.manual_seed(0)
            # small buckets: several per step, so the hook's first-to-last span covers more than one
            model = DistributedDataParallel(nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 3)),
                                            bucket_cap_mb=0.001)
            models.append(model)
            optimisers.append(torch.optim.SGD(model.parameters(), lr=0.1))
        timer = AllreduceWaitTimer()
        registered = timer.register(models[1])
        stats_timer = DdpStatsWaitTimer()
        stats_registered = stats_timer.register(models[2])
        sampled_timer = DdpStatsWaitTimer(sample_every=SAMPLE_EVERY, read_every_s=0.0)  # every window read
        sampled_registered = sampled_timer.register(models[3])
        data = torch.Generator().manual_seed(1 + rank)  # each rank its own batches
        waits, stats_waits = [], []
        timed, windows = [], []  # after each step: the sampled timer's newest timed iteration; each window's wait
        for step in range(1, SAMPLED_STEPS + 1):
            x, y = torch.randn(16, 5, generator=data), torch.randn(16, 3, generator=data)
            for model, opt in list(zip(models, optimisers))[0 if step <= STEPS else 3:]:
                loss = nn.functional.mse_loss(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            if step <= STEPS:
                waits.append(timer.take_step())
                stats_waits.append(stats_timer.take_step())
            if step % SAMPLE_EVERY == 0:
                windows.append(sampled_timer.take_window(SAMPLE_EVERY))
            timed.append(sampled_timer.timed_iteration)
        waits.append(timer.take_step())  # no step since: nothing measured
        stats_waits.append(stats_timer.take_step())
        loss = nn.functional.mse_loss(models[2](x), y)  # the next forward: the reducer times the last step
        stats_waits.append(stats_timer.take_step())
        if rank == 0:
            states = [{k: v.tolist() for k, v in m.module.state_dict().items()} for m in models]
            (folder / "result.json").write_text(json.dumps({"registered": registered, "builtin": states[0],
                                                            "hooked": states[1], "waits": waits,
                                                            "stats_registered": stats_registered,
                                                            "stats": states[2], "stats_waits": stats_waits,
                                                            "sampled_registered": sampled_registered,
                                                            "sample_every": SAMPLE_EVERY, "timed": timed,
                                                            "windows": windows}))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
