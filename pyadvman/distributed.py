"""torch.distributed plumbing: one process per device under torchrun (gloo on CPU, nccl on GPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class Processes:
    """This process's place: rank in [0, world), local_rank on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_processes(device_type: str) -> Processes:
    """Joins the process group when started by torchrun (WORLD_SIZE > 1); a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return Processes(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def mean_across(values: dict[str, Tensor], processes: Processes) -> dict[str, float]:
    """Averages scalar tensors over the processes (one all-reduce) and returns floats."""
    if not values:
        return {}
    stacked = torch.stack([v.detach().float().reshape(()).cpu() for v in values.values()])
    if processes.world > 1:
        backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        stacked = stacked.to(backend_device)
        dist.all_reduce(stacked)
        stacked = stacked.cpu() / processes.world
    return dict(zip(values, stacked.tolist()))


def gather(obj: object, processes: Processes) -> list[object]:
    """Every process's ``obj``, in rank order (on every process)."""
    if processes.world == 1:
        return [obj]
    out: list[object] = [None] * processes.world
    dist.all_gather_object(out, obj)
    return out


def agree(flag: bool, processes: Processes) -> bool:
    """Rank 0's decision, shared by all (e.g. whether to checkpoint now)."""
    if processes.world == 1:
        return flag
    box = [flag]
    dist.broadcast_object_list(box, src=0)
    return bool(box[0])


def barrier(processes: Processes) -> None:
    if processes.world > 1:
        dist.barrier()
