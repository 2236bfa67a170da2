"""A small DDP job (gloo, CPU) that goes wrong on purpose, attached with dist="auto".

    torchrun --standalone --nproc_per_node=2 tests/distributed/faulty_train.py OUT --raise-rank 1 --raise-at 7
    torchrun --standalone --nproc_per_node=2 tests/distributed/faulty_train.py OUT --every 10 --rank1-every 20

`--raise-rank R --raise-at S`: rank R raises at step S. `--rank1-every E`: rank 1 gives every=E
to `attach` (a mistake): each rank that gets gpuviz's error writes it to OUT/rank<r>.txt, then
the ranks meet in a barrier, which only ranks that raised at `attach` reach, and exit with 1.
"""

import argparse
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import gpuviz_app as gv


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--rank1-every", type=int, default=None)
    parser.add_argument("--raise-rank", type=int, default=-1)
    parser.add_argument("--raise-at", type=int, default=0)
    args = parser.parse_args()
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = DistributedDataParallel(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)))
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    every = args.rank1_every if rank == 1 and args.rank1_every is not None else args.every
    try:
        viz = gv.attach(model, loss_fn=nn.MSELoss(), sample=(x[:8], y[:8]), name="faulty", every=every)
    except ValueError as exc:
        (args.out / f"rank{rank}.txt").write_text(str(exc))
        dist.barrier()
        dist.destroy_process_group()
        sys.exit(1)
    with viz:
        for step in range(1, args.steps + 1):
            if rank == args.raise_rank and step == args.raise_at:
                raise RuntimeError(f"rank {rank} fails at step {step} on purpose")
            loss = nn.functional.mse_loss(model(x), y)
            model.zero_grad()
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.05 * p.grad
            viz.step(loss=loss)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
