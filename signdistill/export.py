"""Export a trained model for inference."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from signdistill.errors import SignDistillError
from signdistill.training.checkpoint import load_checkpoint, save_checkpoint

FORMATS = ("safetensors",)


def export(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], *, format: str = "safetensors", dtype: str = "fp32") -> Path:
    """Write an inference-only copy: weights (fp32 or fp16), model spec, vocabulary, normalizer.

    Training-only parts (FitNets projections, optimizer state, the run's config) never
    reach the export. The result is itself a checkpoint folder, so ``evaluate`` reads it.
    """
    if format not in FORMATS:
        raise SignDistillError(f"--format {format!r} is not supported; choose one of {list(FORMATS)}.")
    if dtype not in ("fp32", "fp16"):
        raise SignDistillError(f"--dtype {dtype!r} is not supported; choose fp32 or fp16.")
    ckpt = load_checkpoint(checkpoint)
    model = ckpt.model
    if dtype == "fp16":
        model = model.to(torch.float16)
    return save_checkpoint(
        out,
        model,
        ckpt.vocab,
        ckpt.normalizer,
        meta={"exported_from": str(checkpoint), "dtype": dtype, "format": format},
    )
