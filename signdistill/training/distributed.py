"""Multi-process training with torchrun / DistributedDataParallel.

``torchrun --nproc-per-node N -m signdistill train-teacher --config CFG`` (or ``distill``)
sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; the Trainer then joins a process group
(NCCL on GPUs, gloo on CPU), wraps the model in DDP, splits every global batch of
``data.batch_size x world size`` utterances across the ranks, skips gradient sync while
accumulating (``no_sync``), averages the trainable parameters of the objective (FitNets
projections) by hand, reduces the training metrics, and lets only rank 0 log and write
checkpoints. Teachers are replicated on every rank, never wrapped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group torchrun describes in the environment (no-op without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return info


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """Average gradients of parameters DDP does not manage (the objective's own)."""
    if not info.enabled:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= info.world_size


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shard_batch(indices: list[int], info: DistInfo) -> list[int]:
    """This rank's share of a global batch (contiguous, as even as possible)."""
    if not info.enabled:
        return indices
    n = len(indices)
    base, extra = divmod(n, info.world_size)
    start = info.rank * base + min(info.rank, extra)
    return indices[start : start + base + (1 if info.rank < extra else 0)]
