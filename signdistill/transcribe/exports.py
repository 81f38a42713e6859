"""Scoring exports with ``evaluate``: an export's log-probs over a manifest, batched as for a checkpoint."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary
from signdistill.errors import SignDistillError
from signdistill.transcribe.model import Model, load_model, model_format


@dataclass
class ExportCheckpoint:
    """What ``evaluate`` reads from a checkpoint, for an export: the model and its vocabulary."""

    model: Model
    vocab: Vocabulary
    normalizer: Normalizer
    path: Path


def scored_as_export(path: str | os.PathLike[str]) -> bool:
    """True for folders ``evaluate`` runs as deployed (ONNX, fp16, int8) rather than as a fp32 checkpoint."""
    try:
        return model_format(path) != "fp32"
    except SignDistillError:
        return False  # load_checkpoint says what is wrong


def export_outputs(
    path: str | os.PathLike[str], manifest: str | os.PathLike[str], *, batch_size: int = 32
) -> tuple[ExportCheckpoint, list[Any], list[list[str]], list[str], list[str | None]]:
    """An export's log-probs over a manifest, in the fields of ``pipelines.ModelOutputs``
    (checkpoint, per-utterance ``(T, V)`` tensors, references, ids, signers).

    The manifest is read and batched exactly as for a checkpoint (the same validation,
    normalizer and length buckets); only the network runs in the export's runtime, on the CPU.
    """
    import torch

    from signdistill.data import BucketBatchSampler, SignDataset, collate, read_manifest

    model = load_model(path)
    data = SignDataset(read_manifest(manifest), model.vocab, model.normalizer, source=str(manifest))
    logits: list[Any] = [None] * len(data)
    for idx in BucketBatchSampler(data.lengths, batch_size, shuffle=False):
        batch = collate([data[i] for i in idx])
        out = model.log_probs(batch.features.numpy(), batch.lengths.numpy())
        for b, k in enumerate(batch.indices):
            logits[k] = torch.from_numpy(np.array(out[b, : int(batch.lengths[b])], dtype=np.float32))
    utts = data.utterances
    ckpt = ExportCheckpoint(model, model.vocab, model.normalizer, model.path)
    return ckpt, logits, [list(u.glosses) for u in utts], [u.id for u in utts], [u.signer for u in utts]
