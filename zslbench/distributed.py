"""Process-group setup for `torchrun`: NCCL on GPUs, gloo on CPUs, and nothing when run alone."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Context:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, ...)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    chosen = (
        torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
        if device in ("auto", "cuda")
        else torch.device(device)
    )
    if use_cuda:
        torch.cuda.set_device(chosen)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Context(rank, world_size, local_rank, chosen)


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()


def gather(context: Context, value):
    """Every rank's `value`, on every rank (a list of one when run alone)."""
    if not context.distributed:
        return [value]
    out = [None] * context.world_size
    dist.all_gather_object(out, value)
    return out


def sync_buffers(context: Context, model: torch.nn.Module) -> None:
    """Copy rank 0's buffers (batch-norm statistics, updated locally by each rank's last forward)."""
    if context.distributed:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def teardown(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
