"""Loading a checkpoint or an export of any format for inference; the format comes from the folder's metadata."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary
from signdistill.errors import CheckpointError, SignDistillError
from signdistill.io import resolve_dir

ONNX_META = "model.json"  # the same names as signdistill.export, which imports torch
ONNX_FILE = "model.onnx"
CHECKPOINT_META = "checkpoint.json"


def model_format(path: str | os.PathLike[str]) -> str:
    """``"onnx"``, ``"int8"``, ``"fp16"`` or ``"fp32"`` (checkpoints and safetensors exports),
    read from the folder's metadata; raises :class:`CheckpointError` for any other folder."""
    return _format_and_meta(path)[0]


def model_kind(path: str | os.PathLike[str]) -> str:
    """What runs when the folder is deployed: :func:`model_format`, with the quantization of an
    ONNX export spelled out (``"onnx-int8-dynamic"``, ``"onnx-int8-static"``)."""
    fmt, info = _format_and_meta(path)
    quant = info.get("quantization") if fmt == "onnx" else None
    if isinstance(quant, dict) and isinstance(quant.get("method"), str):
        return f"onnx-int8-{quant['method']}"
    return fmt


def _format_and_meta(path: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    """The folder's format and its metadata file's content (read once)."""
    path = resolve_dir(path)
    if not path.is_dir():
        raise CheckpointError(
            f"Model folder {path} does not exist. Point --model at a checkpoint (runs/<name>/best) or a folder written by "
            "`signdistill export`."
        )
    for name in (ONNX_META, CHECKPOINT_META):
        if not (path / name).is_file():
            continue
        try:
            info = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{path / name} is damaged ({exc}); export or train the model again.") from None
        if not isinstance(info, dict):
            raise CheckpointError(f"{path / name} is not a signdistill model description; export or train the model again.")
        if name == ONNX_META:
            if info.get("format") != "onnx":
                raise CheckpointError(f"{path / name} names the format {info.get('format')!r}, not 'onnx'; export the model again.")
            return "onnx", info
        meta = info.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("quantize") == "dynamic_int8":
            return "int8", info
        return ("fp16" if meta.get("dtype") == "fp16" else "fp32"), info
    hint = f"It is a run folder: use --model {path / 'best'}." if (path / "best" / CHECKPOINT_META).is_file() else ""
    raise CheckpointError(
        f"{path} holds neither {CHECKPOINT_META} (a checkpoint or safetensors/int8 export) nor {ONNX_META} (an ONNX export). "
        + (hint or "Point --model at runs/<name>/best or at a folder written by `signdistill export`.")
    )


@dataclass
class Model:
    """A checkpoint or export ready to run: normalized features -> log-probabilities.

    Attributes:
        format: ``fp32``, ``fp16``, ``int8`` or ``onnx``.
        vocab, normalizer: those the model was trained with (read from its folder).
        spec: the model's hyperparameters (``ModelSpec.to_dict()``).
    """

    format: str
    path: Path
    vocab: Vocabulary
    normalizer: Normalizer
    spec: dict[str, Any]
    run: Callable[[np.ndarray, np.ndarray], np.ndarray]

    @property
    def input_dim(self) -> int:
        return self.normalizer.dim

    def log_probs(self, features: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``features (B, T, D)`` normalized float32, ``lengths (B,)`` -> ``(B, T, V)`` log-probs."""
        return self.run(np.ascontiguousarray(features, dtype=np.float32), np.asarray(lengths, dtype=np.int64))

    def num_parameters(self) -> int:
        """Parameters of the network (the same count as its checkpoint; needs torch)."""
        from signdistill.models import CTCModel, ModelSpec

        return CTCModel(ModelSpec.from_dict(self.spec)).num_parameters()


def _load_onnx(path: Path, threads: int | None) -> Model:
    """An ONNX export with onnxruntime and numpy only."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise SignDistillError("Running an ONNX export needs onnxruntime: pip install 'signdistill[onnx]'") from None
    info = json.loads((path / ONNX_META).read_text(encoding="utf-8"))
    try:
        vocab, normalizer, spec = Vocabulary(info["vocabulary"]), Normalizer.from_dict(info["normalizer"]), dict(info["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path / ONNX_META} lacks or damages {exc}; export the model again.") from None
    if not (path / ONNX_FILE).is_file():
        raise CheckpointError(f"{path} has {ONNX_META} but no {ONNX_FILE}; export the model again.")
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path / ONNX_FILE), opts, providers=["CPUExecutionProvider"])

    def run(features: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return session.run(None, {"features": features, "lengths": lengths})[0]

    return Model("onnx", path, vocab, normalizer, spec, run)


def load_model(path: str | os.PathLike[str], *, threads: int | None = None) -> Model:
    """Load a checkpoint or an export of any format for inference (on the CPU).

    Example:
        >>> model = load_model("exported/onnx")  # doctest: +SKIP
        >>> model.format, model.input_dim  # doctest: +SKIP
        ('onnx', 150)
    """
    fmt = model_format(path)
    path = resolve_dir(path)
    if fmt == "onnx":
        return _load_onnx(path, threads)
    try:
        from signdistill.export import load_inference_model
    except ImportError:
        raise SignDistillError(
            f"{path} is a {fmt} model, which runs with PyTorch, and torch cannot be imported here. Install torch, or export "
            "the model to ONNX (`signdistill export --format onnx`), which runs with onnxruntime alone."
        ) from None
    with warnings.catch_warnings():  # torch's quantization API warns about its own deprecation on every call
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        inner = load_inference_model(path, threads=threads)
    return Model(fmt, path, inner.vocab, inner.normalizer, inner.spec.to_dict(), inner.log_probs)
