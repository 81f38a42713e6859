"""Self-describing checkpoint folders.

A checkpoint is a folder:

* ``model.safetensors``: the model's weights (nothing else: no projections, no optimizer);
* ``checkpoint.json``: model hyperparameters, vocabulary, normalizer, the run's config,
  epoch/step and metrics;
* ``training_state.pt`` (only in ``last/``): optimizer, scheduler, scaler, RNG states and
  any training-only modules, written with ``torch.save`` and read back with
  ``torch.load(weights_only=True)``, which refuses arbitrary pickled objects.

Folders are written to a temporary sibling and swapped in, so a crash during a save
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary
from signdistill.errors import CheckpointError, SignDistillError
from signdistill.io import replace_dir_atomic, resolve_dir
from signdistill.models.bilstm import CTCModel, ModelSpec

WEIGHTS = "model.safetensors"
META = "checkpoint.json"
STATE = "training_state.pt"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode) and everything needed to use it."""

    model: CTCModel
    vocab: Vocabulary
    normalizer: Normalizer
    config: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def spec(self) -> ModelSpec:
        return self.model.spec


def save_weights(weights: dict[str, torch.Tensor], path: str | os.PathLike[str], metadata: dict[str, str]) -> None:
    """Write tensors as safetensors so that the same weights and metadata give the same bytes.

    safetensors keeps the metadata in a Rust ``HashMap``, whose order changes from one save
    to the next; the header is rewritten here with the metadata keys sorted (the tensors'
    entries and data stay as written), so two identical runs can be compared by sha256.
    """
    import struct

    save_file(weights, str(path), metadata=dict(sorted(metadata.items())))
    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        meta = dict(sorted(header.pop("__metadata__", {}).items()))
        canonical = json.dumps({"__metadata__": meta, **header}, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(canonical) > n:  # not expected (same entries, compact JSON both ways): keep the file as written
            return
        f.seek(8)
        f.write(canonical + b" " * (n - len(canonical)))  # safetensors pads its header with spaces


def save_checkpoint(
    path: str | os.PathLike[str],
    model: CTCModel,
    vocab: Vocabulary,
    normalizer: Normalizer,
    *,
    config: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    training_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder atomically; returns its path."""
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    info = {
        "format_version": FORMAT_VERSION,
        "model": model.spec.to_dict(),
        "vocabulary": vocab.tokens,
        "normalizer": normalizer.to_dict(),
        "config": config or {},
        "meta": meta or {},
    }

    def fill(tmp: Path) -> None:
        save_weights(weights, tmp / WEIGHTS, metadata={"format": "pt", "arch": model.spec.arch})
        (tmp / META).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        if training_state is not None:
            torch.save(training_state, tmp / STATE)

    return replace_dir_atomic(path, fill)


def _read_meta(path: Path) -> dict[str, Any]:
    meta_file = path / META
    if not path.is_dir():
        raise CheckpointError(
            f"Checkpoint folder {path} does not exist. Point --checkpoint at a folder such as "
            "runs/<name>/best that holds model.safetensors and checkpoint.json."
        )
    missing = [f for f in (WEIGHTS, META) if not (path / f).is_file()]
    if missing:
        raise CheckpointError(
            f"Checkpoint folder {path} lacks {', '.join(missing)}. It may be incomplete or not a "
            "signdistill checkpoint; use runs/<name>/best or runs/<name>/last."
        )
    try:
        info = json.loads(meta_file.read_text(encoding="utf-8"))
        ModelSpec.from_dict(info["model"])
        Vocabulary(info["vocabulary"])
        Normalizer.from_dict(info["normalizer"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{meta_file} is damaged or from another tool ({type(exc).__name__}: {exc}). Use a checkpoint written by signdistill."
        ) from None
    return info


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint folder (never unpickles: weights come from safetensors)."""
    path = resolve_dir(path)
    info = _read_meta(path)
    spec = ModelSpec.from_dict(info["model"])
    if spec.arch != "bilstm_ctc":
        raise CheckpointError(f"{path}: architecture {spec.arch!r} is not supported by this version.")
    model = CTCModel(spec)
    try:
        weights = load_file(str(path / WEIGHTS), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path / WEIGHTS} cannot be read ({exc}); the file is truncated or corrupt. "
            "Use the other checkpoint of the run (best/ or last/) or retrain."
        ) from None
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(
            f"{path / WEIGHTS} does not match the architecture in {path / META} ({first}). The folder mixes files from different runs."
        ) from None
    model.to(device).eval()
    return Checkpoint(
        model=model,
        vocab=Vocabulary(info["vocabulary"]),
        normalizer=Normalizer.from_dict(info["normalizer"]),
        config=info.get("config", {}),
        meta=info.get("meta", {}),
        path=path,
    )


def load_training_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Read ``training_state.pt`` with ``weights_only=True``; None if there is none."""
    f = resolve_dir(path) / STATE
    if not f.is_file():
        return None
    try:
        return torch.load(f, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError...
        raise SignDistillError(
            f"{f} cannot be loaded safely ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
            "It is corrupt or holds objects other than tensors and plain data; delete the run's "
            "last/ folder to start over, or resume from a checkpoint you trust."
        ) from None
