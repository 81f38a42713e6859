"""Run a model over a dataset: per-utterance logits and greedy ids, and the device to run on.

Floor 2: torch and the data/model layers only (no config, no training stack), so loading a
checkpoint and running it never imports pydantic or the Trainer.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from signdistill.data.dataset import BucketBatchSampler, SignDataset, collate
from signdistill.decoding.greedy import greedy_decode
from signdistill.errors import ConfigError
from signdistill.models import CTCModel


def resolve_device(name: str, source: str = "train.device") -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` as a torch device; ``source`` names the setting
    in errors (``train.device`` in a config, ``--device`` on the command line)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"{source} is {name!r}, which is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N'.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{source} is {name!r} but no CUDA device is available; use 'cpu' or 'auto'.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"{source} is {name!r} but this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0.")
    return dev


@torch.no_grad()
def _batches(
    model: CTCModel, dataset: SignDataset, batch_size: int, device: torch.device | str
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """(dataset indices, logits ``(B, T, V)``, lengths ``(B,)``) per length-bucketed batch, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        for idx in BucketBatchSampler(dataset.lengths, batch_size, shuffle=False):
            batch = collate([dataset[i] for i in idx]).to(device)
            out = model(batch.features, batch.lengths)
            yield list(batch.indices), out.logits, out.lengths  # the output's lengths: a strided model has fewer frames
    finally:
        model.train(was_training)


def predict(
    model: CTCModel,
    dataset: SignDataset,
    batch_size: int,
    device: torch.device | str = "cpu",
    *,
    keep_logits: bool = False,
) -> tuple[list[list[int]], list[torch.Tensor] | None]:
    """Greedy label ids for every utterance of ``dataset`` (dataset order), and with
    ``keep_logits`` its logits ``(T, V)`` (fp32, on the CPU)."""
    hyps: list[list[int]] = [[] for _ in range(len(dataset))]
    logits_out: list[torch.Tensor] | None = [torch.empty(0)] * len(dataset) if keep_logits else None
    for indices, logits, lengths in _batches(model, dataset, batch_size, device):
        for k, ids in zip(indices, greedy_decode(logits, lengths)):
            hyps[k] = ids
        if logits_out is not None:
            for b, k in enumerate(indices):
                logits_out[k] = logits[b, : int(lengths[b])].float().cpu()
    return hyps, logits_out


def predict_logits(model: CTCModel, dataset: SignDataset, batch_size: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Per-utterance logits ``(T, V)`` (fp32, on the CPU) for every utterance of ``dataset``, in dataset order.

    Example:
        >>> logits = predict_logits(ckpt.model, dataset, 32, resolve_device("auto"))  # doctest: +SKIP
    """
    out: list[torch.Tensor] = [torch.empty(0)] * len(dataset)
    for indices, logits, lengths in _batches(model, dataset, batch_size, device):
        for b, k in enumerate(indices):
            out[k] = logits[b, : int(lengths[b])].float().cpu()
    return out
