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
import math
import os
from collections.abc import Iterator
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
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise CheckpointError(
            f"Checkpoint folder {path} {what}. Give a folder such as runs/<name>/best that holds model.safetensors and checkpoint.json."
        )
    missing = [f for f in (WEIGHTS, META) if not (path / f).is_file()]
    if missing:
        raise CheckpointError(
            f"Checkpoint folder {path} lacks {', '.join(missing)}. It may be incomplete or not a "
            "signdistill checkpoint; use runs/<name>/best or runs/<name>/last."
        )
    try:
        info = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{meta_file} is damaged or from another tool ({type(exc).__name__}: {exc}). Use a checkpoint written by signdistill."
        ) from None
    check_checkpoint_info(info, meta_file)
    return info


# ModelSpec's fields: (type, lowest value, highest value or None, what the value means).
_SPEC_FIELDS: dict[str, tuple[type, float, float | None, str]] = {
    "input_dim": (int, 1, None, "an integer >= 1 (feature dimensions per frame)"),
    "vocab_size": (int, 2, None, "an integer >= 2 (the vocabulary's length)"),
    "hidden": (int, 1, None, "an integer >= 1"),
    "layers": (int, 1, None, "an integer >= 1"),
    "input_proj": (int, 0, None, "an integer >= 0 (0: no input projection)"),
    "dropout": (float, 0.0, 1.0, "a number in [0, 1)"),
    "temporal_stride": (int, 1, 5, "1, 2 or 4"),
}


def _spec_field_error(key: str, value: Any) -> str | None:
    """Why ``model.<key>`` = ``value`` is not a valid :class:`ModelSpec` field, or None."""
    if key == "arch":
        return None if value == "bilstm_ctc" else "'bilstm_ctc' (other architectures are not supported by this version)"
    if key not in _SPEC_FIELDS:
        return f"absent (unknown field; the model fields are {sorted([*_SPEC_FIELDS, 'arch'])})"
    kind, low, high, what = _SPEC_FIELDS[key]
    numeric = isinstance(value, int if kind is int else (int, float)) and not isinstance(value, bool)
    if not numeric or value < low or (high is not None and value >= high) or value != value:
        return what
    if key == "temporal_stride" and value not in (1, 2, 4):
        return what
    return None


def _info_errors(info: Any) -> Iterator[str]:
    """Every reason ``checkpoint.json``'s content is not a valid checkpoint description (field, value, what it must be)."""
    if not isinstance(info, dict):
        yield f"the file holds a JSON {type(info).__name__}, not an object"
        return
    for key in ("model", "vocabulary", "normalizer"):
        if key not in info:
            yield f"field {key!r} is missing"
    spec = info.get("model")
    if spec is not None and not isinstance(spec, dict):
        yield f"field 'model' is {spec!r}; it must be an object of model settings"
    elif isinstance(spec, dict):
        for k in dict.fromkeys([*_SPEC_FIELDS, *spec]):
            if k not in spec and k in ("input_dim", "vocab_size"):
                yield f"field 'model.{k}' is missing"
            elif k in spec and (must := _spec_field_error(k, spec[k])) is not None:
                yield f"field 'model.{k}' is {spec[k]!r}; it must be {must}"
    vocab = info.get("vocabulary")
    if "vocabulary" in info and not (isinstance(vocab, list) and all(isinstance(t, str) for t in vocab)):
        yield "field 'vocabulary' must be a list of gloss strings"
    elif isinstance(vocab, list) and isinstance(spec, dict) and spec.get("vocab_size") not in (None, len(vocab)):
        yield f"field 'vocabulary' lists {len(vocab)} glosses but 'model.vocab_size' is {spec['vocab_size']}"
    norm = info.get("normalizer")
    if "normalizer" in info:
        yield from _normalizer_errors(norm, spec.get("input_dim") if isinstance(spec, dict) else None)
    for key in ("config", "meta"):
        if key in info and not isinstance(info[key], dict):
            yield f"field {key!r} is {info[key]!r}; it must be an object"


def _normalizer_errors(norm: Any, dim: Any) -> Iterator[str]:
    if not isinstance(norm, dict):
        yield "field 'normalizer' must be an object with 'mean' and 'std' lists"
        return
    for key in ("mean", "std"):
        raw = norm.get(key)
        v: list[Any] = raw if isinstance(raw, list) else []
        ok = isinstance(raw, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
        if not ok:
            yield f"field 'normalizer.{key}' must be a list of finite numbers"
        elif key == "std" and any(x <= 0 for x in v):
            yield "field 'normalizer.std' holds a value <= 0; every std must be > 0"
        elif isinstance(dim, int) and len(v) != dim:
            yield f"field 'normalizer.{key}' has {len(v)} values but 'model.input_dim' is {dim}"


def check_checkpoint_info(info: Any, meta_file: Path) -> None:
    """Validate every field of a checkpoint's ``checkpoint.json`` before anything is built from it.

    Raises :class:`CheckpointError` naming the file, each bad field with its value, and the fix.
    """
    errors = list(_info_errors(info))
    if not errors and isinstance(info, dict):
        try:
            Vocabulary(info["vocabulary"])
        except SignDistillError as exc:
            errors.append(f"field 'vocabulary': {exc}")
    if errors:
        raise CheckpointError(
            f"{meta_file} is not a valid signdistill checkpoint description: {'; '.join(errors)}. The file was edited or "
            "comes from another tool: restore it from the run (best/ or last/ of the same run), or retrain."
        )


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint folder (never unpickles: weights come from safetensors)."""
    path = resolve_dir(path)
    info = _read_meta(path)
    spec = ModelSpec.from_dict(info["model"])
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
