"""A model with DTensor parameters sharded over two ranks (gloo, CPU), attached with dist="auto".

    torchrun --standalone --nproc_per_node=2 tests/distributed/sharded_train.py OUT_FOLDER --steps 12 --every 4

At each step where the ranks exchange figures, every rank gathers the sharded parameters and
their gradients whole (`full_tensor`, a collective), and rank 0 keeps them; at the end it
writes them to OUT_FOLDER/full.safetensors as "<step>/weight <name>" and "<step>/grad <name>",
for the test to recompute the merged statistics in one process. Each rank also writes
OUT_FOLDER/rank<r>.json: whether it records and which networking modules it loaded.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Replicate, Shard, distribute_tensor

import gpuviz_app as gv


class ShardedNet(nn.Module):
    """Two matrices sharded unevenly (11 rows by rows, 11 columns by columns) and a plain head."""

    def __init__(self, mesh) -> None:
        super().__init__()
        self.mesh = mesh
        self.embed = nn.Parameter(distribute_tensor(torch.randn(11, 6) * 0.5, mesh, [Shard(0)]))
        self.proj = nn.Parameter(distribute_tensor(torch.randn(3, 11) * 0.3, mesh, [Shard(1)]))
        self.head = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embed = self.embed.redistribute(self.mesh, [Replicate()]).to_local()
        proj = self.proj.redistribute(self.mesh, [Replicate()]).to_local()
        return self.head(torch.tanh(torch.tanh(x @ embed.T) @ proj.T))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--every", type=int, default=4)
    args = parser.parse_args()
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    try:
        mesh = init_device_mesh("cpu", (dist.get_world_size(),))
        torch.manual_seed(0)  # the same data on every rank: the replicated head stays the same
        model = ShardedNet(mesh)
        x, y = torch.randn(64, 6), torch.randn(64, 1)
        loss_fn = nn.MSELoss()
        full: dict[str, torch.Tensor] = {}
        with gv.attach(model, loss_fn=loss_fn, sample=(x[:16], y[:16]), name="sharded", every=args.every) as viz:
            for step in range(1, args.steps + 1):
                loss = loss_fn(model(x), y)
                for p in model.parameters():
                    p.grad = None
                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p -= 0.1 * p.grad
                viz.step(loss=loss)
                if step % args.every == 0:
                    for name in ("embed", "proj"):
                        p = getattr(model, name)
                        weight, grad = p.detach().full_tensor(), p.grad.full_tensor()
                        full[f"{step}/weight {name}"], full[f"{step}/grad {name}"] = weight, grad
            recording = viz.recording
        if rank == 0:
            save_file({k: v.contiguous() for k, v in full.items()}, str(args.out / "full.safetensors"))
        loaded = sorted(m for m in ("zmq", "gpuviz_app.sources.sender", "gpuviz_app.sources.remote")
                        if m in sys.modules)
        (args.out / f"rank{rank}.json").write_text(json.dumps({"recording": recording, "loaded": loaded}))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
