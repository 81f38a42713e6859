"""Run a PyTorch model: checkpoints and safetensors exports as a runnable model, dataset batches, the device.

Torch and the data/model layers only (no config, no training stack), so loading a checkpoint
and running it never imports pydantic or the Trainer. :func:`load_torch_model` is the PyTorch
half of :func:`signdistill.formats.load_model` (which also loads ONNX, without torch);
:func:`dataset_batches` is :func:`signdistill.runner.batch_plan` over a :class:`SignDataset`, as
torch batches on a device, for code that keeps the outputs on the device (the teacher cache).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from signdistill.checkpoint import load_checkpoint
from signdistill.data.dataset import Batch, SignDataset, collate
from signdistill.decoding.greedy import greedy_decode
from signdistill.errors import ConfigError
from signdistill.models import CTCModel
from signdistill.runner import Model, batch_plan


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


def quantize_int8(model: CTCModel) -> nn.Module:
    """Dynamic int8 quantization of the LSTM and Linear layers (CPU inference)."""
    return torch.ao.quantization.quantize_dynamic(model.float().eval(), {nn.LSTM, nn.Linear}, dtype=torch.qint8)


def load_torch_model(path: str | Path, kind: str, *, device: torch.device | str = "cpu") -> Model:
    """A checkpoint folder as a runnable :class:`~signdistill.runner.Model` of ``kind`` ``fp32``
    (on ``device``), ``fp16`` or ``int8`` (``quantize_dynamic`` applied on load; CPU)."""
    ckpt = load_checkpoint(path, device=device)
    net: nn.Module = ckpt.model.eval()
    if kind == "int8":
        net = quantize_int8(ckpt.model)
    elif kind == "fp16":
        net = ckpt.model.half()
    dev = torch.device(device)

    @torch.no_grad()
    def run(features: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(features).to(dev)
        out = net(x.half() if kind == "fp16" else x, torch.from_numpy(lengths).to(dev)).logits  # (B, T, V)
        return torch.log_softmax(out.float(), dim=-1).cpu().numpy()

    return Model(kind, ckpt.path or Path(path), ckpt.vocab, ckpt.normalizer, ckpt.spec.to_dict(), run)


def dataset_batches(dataset: SignDataset, batch_size: int, device: torch.device | str = "cpu") -> Iterator[Batch]:
    """The utterances of ``dataset`` as collated batches on ``device``, in length buckets
    (:func:`~signdistill.runner.batch_plan` with ``by_length``: the evaluation order).

    The teacher cache and :func:`predict` run torch models over a dataset with it."""
    for idx in batch_plan(dataset.lengths, batch_size, by_length=True):
        yield collate([dataset[i] for i in idx]).to(device)


@torch.no_grad()
def _batches(
    model: CTCModel, dataset: SignDataset, batch_size: int, device: torch.device | str
) -> Iterator[tuple[Batch, torch.Tensor, torch.Tensor]]:
    """Each :func:`dataset_batches` batch, its logits ``(B, T', V)`` and their lengths ``(B,)``, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        for batch in dataset_batches(dataset, batch_size, device):
            out = model(batch.features, batch.lengths)
            yield batch, out.logits, out.lengths  # the output's lengths: a strided model has fewer frames
    finally:
        model.train(was_training)


def predict(model: CTCModel, dataset: SignDataset, batch_size: int, device: torch.device | str = "cpu") -> list[list[int]]:
    """Greedy label ids for every utterance of ``dataset``, in dataset order (:func:`predict_logits` gives the logits)."""
    hyps: list[list[int]] = [[] for _ in range(len(dataset))]
    for batch, logits, lengths in _batches(model, dataset, batch_size, device):
        for k, ids in zip(batch.indices, greedy_decode(logits, lengths)):
            hyps[k] = ids
    return hyps


def predict_logits(model: CTCModel, dataset: SignDataset, batch_size: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Per-utterance logits ``(T, V)`` (fp32, on the CPU) for every utterance of ``dataset``, in dataset order.

    Example:
        >>> logits = predict_logits(ckpt.model, dataset, 32, resolve_device("auto"))  # doctest: +SKIP
    """
    out: list[torch.Tensor] = [torch.empty(0)] * len(dataset)
    for batch, logits, lengths in _batches(model, dataset, batch_size, device):
        for b, k in enumerate(batch.indices):
            out[k] = logits[b, : int(lengths[b])].float().cpu()
    return out


__all__ = ["dataset_batches", "load_torch_model", "predict", "predict_logits", "quantize_int8", "resolve_device"]
