"""Process-group setup for `torchrun`: NCCL on GPUs, gloo on CPUs, and nothing when run alone."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from zslbench.core.bounds import check_device_name
from zslbench.core.errors import ZslbenchError, named

CPU = named("--device cpu", "device='cpu'")  # how a hint names the fallback


@dataclass(frozen=True)
class Context:
    """Where this process runs: its torchrun rank, the world size, its local rank and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints (always true when run alone)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether torchrun started more than one process (world size > 1)."""
        return self.world_size > 1


def setup(device: str = "auto") -> Context:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, ...).

    A device that this machine or this torch build lacks is the user's environment, not a bug: it is a
    one-line `ZslbenchError` here, before any data is read, instead of a CUDA assertion mid-run."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = resolve_device(device, local_rank)
    use_cuda = chosen.type == "cuda"
    if use_cuda:
        torch.cuda.set_device(chosen)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Context(rank, world_size, local_rank, chosen)


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """`auto` (CUDA when there is one), `cpu`, `cuda` (this rank's GPU), `cuda:N` or `mps`, checked to exist."""
    check_device_name(device)
    if device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise ZslbenchError("device 'mps' is not available here", f"mps needs Apple silicon; use {CPU}")
        return torch.device("mps")
    if not torch.backends.cuda.is_built():
        raise ZslbenchError(
            f"device {device!r}: this torch ({torch.__version__}) was built without CUDA",
            f"use {CPU} (or auto), or install a CUDA build of torch",
        )
    count = torch.cuda.device_count()
    if count == 0:
        raise ZslbenchError(
            f"device {device!r}: no CUDA GPU is visible",
            f"check nvidia-smi and CUDA_VISIBLE_DEVICES, or use {CPU}",
        )
    index = local_rank if device == "cuda" else int(device.partition(":")[2])
    if index >= count:
        raise ZslbenchError(
            f"device {device!r}" + (f" (local rank {local_rank})" if device == "cuda" else "") + " does not exist",
            f"{count} CUDA GPU(s) are visible: cuda:0..cuda:{count - 1}",
        )
    return torch.device(f"cuda:{index}")


def barrier(context: Context) -> None:
    """Wait until every rank gets here; a no-op when run alone."""
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
    """Leave the process group `setup` joined; a no-op when run alone or never joined."""
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
