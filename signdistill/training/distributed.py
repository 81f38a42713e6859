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
from typing import Any

import torch
import torch.distributed as dist

from signdistill.config import RunConfig
from signdistill.data.dataset import BucketBatchSampler
from signdistill.errors import ConfigError
from signdistill.inference import resolve_device


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


class ShardedBatches:
    """This rank's share of every global batch (global batches too small to share are skipped)."""

    def __init__(self, inner: BucketBatchSampler, info: DistInfo):
        self.inner, self.info = inner, info

    def set_epoch(self, epoch: int) -> None:
        self.inner.set_epoch(epoch)

    def _global(self) -> list[list[int]]:
        return [b for b in self.inner.batches() if len(b) >= self.info.world_size]

    def __iter__(self) -> Any:
        return iter([shard_batch(b, self.info) for b in self._global()])

    def __len__(self) -> int:
        return len(self._global())


def training_device(cfg: RunConfig) -> tuple[torch.device, DistInfo]:
    """The device this process trains on and its process group under torchrun (one GPU per rank); applies ``train.threads``."""
    device = resolve_device(cfg.train.device)
    if cfg.train.precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision is 'fp16', which needs a CUDA device (fp16 with a GradScaler). On CPU use 'bf16' or 'fp32'.")
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    info = init_from_env(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    return device, info


def wrap_model(model: torch.nn.Module, device: torch.device, info: DistInfo) -> Any:
    """The module the training loop calls: ``model`` itself, or its DDP wrapper under torchrun."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def any_rank(flag: bool, info: DistInfo) -> bool:
    """Whether ``flag`` is set on any other rank (a collective: every rank must call it; False without DDP)."""
    return info.enabled and all_reduce_sum([1.0 if flag else 0.0], info)[0] > 0


def reduce_epoch_sums(sums: dict[str, float], count: int, frames: int, info: DistInfo) -> tuple[dict[str, float], int, int]:
    """An epoch's loss sums, batch count and frame count over all ranks."""
    if not info.enabled:
        return sums, count, frames
    keys = sorted(sums)
    reduced = all_reduce_sum([sums[k] for k in keys] + [count, frames], info)
    return dict(zip(keys, reduced[: len(keys)])), int(reduced[-2]), int(reduced[-1])


def training_batches(
    lengths: list[int],
    batch_size: int,
    seed: int,
    bucket: bool,
    info: DistInfo,
    *,
    optional_from: int | None = None,
    optional_per_epoch: int = 0,
) -> Any:
    """The training batch sampler: length-bucketed, shuffled per epoch, this rank's share under torchrun.

    Indices from ``optional_from`` on (unlabeled utterances) are drawn ``optional_per_epoch`` per epoch.
    """
    # Under torchrun every rank draws the same global batches (batch_size x world size)
    # and keeps its share, so N processes see what one process with the global batch sees.
    sampler = BucketBatchSampler(
        lengths,
        batch_size * info.world_size,
        shuffle=True,
        seed=seed,
        bucket=bucket,
        optional_from=optional_from,
        optional_per_epoch=optional_per_epoch,
    )
    return ShardedBatches(sampler, info) if info.enabled else sampler
