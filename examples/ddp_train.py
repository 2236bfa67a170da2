"""An MLP trained with DistributedDataParallel on synthetic data, watched by gpuviz as one run.

    torchrun --standalone --nproc_per_node=2 examples/ddp_train.py --steps 500
    torchrun --standalone --nproc_per_node=2 examples/ddp_train.py --slow-rank 1 --slow-ms 30

Gloo on the CPU, NCCL when CUDA is available (one GPU per rank). Every rank calls `gv.attach`
and `viz.step`; rank 0 sends the job to the window, with each rank's loss, steps/s and time
spent waiting for the others. `--slow-rank R --slow-ms M` makes rank R sleep M ms each step, so
the others wait for it in the gradient all-reduce: the metrics view marks it as the straggler.
"""

import argparse
import os
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import gpuviz_app as gv


def make_data(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 8, generator=generator)
    y = torch.sin(x[:, :1] * 2) + 0.5 * x[:, 1:2] * x[:, 2:3] + 0.1 * torch.randn(n, 1, generator=generator)
    return x, y


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=10, help="steps between the ranks' exchanges of figures")
    parser.add_argument("--slow-rank", type=int, default=-1, help="this rank sleeps --slow-ms each step")
    parser.add_argument("--slow-ms", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank()
    if cuda:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    try:
        torch.manual_seed(0)  # the same initial weights on every rank (DDP broadcasts rank 0's anyway)
        model = make_model().to(device)
        ddp = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
        loss_fn = nn.MSELoss()
        opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
        data = torch.Generator().manual_seed(1 + rank)  # each rank its own share of the data
        x_train, y_train = (t.to(device) for t in make_data(2048, data))
        sample = make_data(256, torch.Generator().manual_seed(12345))  # the same rows on every rank
        with gv.attach(ddp, loss_fn=loss_fn, optimizer=opt, sample=sample, name="ddp-train", every=args.every) as viz:
            for _ in range(args.steps):
                if rank == args.slow_rank:
                    time.sleep(args.slow_ms / 1000.0)
                idx = torch.randint(0, len(x_train), (args.batch,), device=device)
                loss = loss_fn(ddp(x_train[idx]), y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                viz.step(loss=loss)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
