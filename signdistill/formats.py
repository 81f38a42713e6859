"""Model folders of every format: their file names, what kind a folder holds, and loading any of them.

A model folder is a checkpoint or an export (:mod:`signdistill.export`). Its kind is read from its
metadata, never from its name: ``model.json`` of an ONNX export (``"quantization"`` for ONNX
int8), ``checkpoint.json``'s ``meta`` for the others. :func:`load_model` loads any of them into
one :class:`~signdistill.runner.Model`: ONNX with numpy and onnxruntime alone (this module never
imports torch at import time), the others through :mod:`signdistill.inference` (torch).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary
from signdistill.errors import CheckpointError, SignDistillError
from signdistill.io import resolve_dir
from signdistill.runner import Model

CHECKPOINT_META = "checkpoint.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
ONNX_META = "model.json"
EXPORT_FORMATS = ("safetensors", "onnx", "int8", "onnx-int8")
KINDS = ("fp32", "fp16", "int8", "onnx", "onnx-int8-dynamic", "onnx-int8-static")


def onnx_int8_kind(method: str) -> str:
    """The kind of an ONNX export quantized with ``method`` (``dynamic``, ``static``)."""
    return f"onnx-int8-{method}"


def export_file(rel: str) -> bool:
    """A file an export writes (anything else in an export folder is the user's)."""
    return rel in (CHECKPOINT_META, WEIGHTS_FILE, ONNX_FILE, ONNX_META) or rel.endswith(".onnx.data")


def is_export(path: str | os.PathLike[str]) -> bool:
    """True for a folder written by :func:`signdistill.export.export` (any format): its metadata names the source checkpoint."""
    for name in (ONNX_META, CHECKPOINT_META):
        try:
            info = json.loads((Path(path) / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and isinstance(info.get("meta"), dict) and "exported_from" in info["meta"]:
            return True
    return False


def model_format(path: str | os.PathLike[str]) -> str:
    """``"onnx"``, ``"int8"``, ``"fp16"`` or ``"fp32"`` (checkpoints and safetensors exports),
    read from the folder's metadata; raises :class:`CheckpointError` for any other folder."""
    return _kind_and_meta(path)[0].split("-")[0]


def model_kind(path: str | os.PathLike[str]) -> str:
    """What runs when the folder is deployed: :func:`model_format`, with the quantization of an
    ONNX export spelled out (``"onnx-int8-dynamic"``, ``"onnx-int8-static"``)."""
    return _kind_and_meta(path)[0]


def _kind_and_meta(path: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    """The folder's kind (one of :data:`KINDS`) and its metadata file's content (read once)."""
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
            quant = info.get("quantization")
            return (onnx_int8_kind(quant["method"]) if isinstance(quant, dict) and isinstance(quant.get("method"), str) else "onnx"), info
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


def _load_onnx(path: Path, kind: str, info: dict[str, Any], threads: int | None) -> Model:
    """An ONNX export with onnxruntime and numpy only."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise SignDistillError("Running an ONNX export needs onnxruntime: pip install 'signdistill[onnx]'") from None
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

    return Model(kind, path, vocab, normalizer, spec, run, weights_file=ONNX_FILE)


def load_model(path: str | os.PathLike[str], *, threads: int | None = None, device: Any = "cpu") -> Model:
    """Load a checkpoint or an export of any format for inference.

    Args:
        path: a checkpoint folder or a folder written by ``signdistill export``.
        threads: intra-op threads (onnxruntime; torch's are process-wide and left alone).
        device: where an fp32 checkpoint runs (a ``torch.device`` or its name); every export
            runs on the CPU, as deployed.

    Example:
        >>> model = load_model("exported/onnx")  # doctest: +SKIP
        >>> model.kind, model.input_dim  # doctest: +SKIP
        ('onnx', 150)
    """
    kind, info = _kind_and_meta(path)
    path = resolve_dir(path)
    if kind.startswith("onnx"):
        return _load_onnx(path, kind, info, threads)
    try:
        from signdistill.inference import load_torch_model
    except ImportError:
        raise SignDistillError(
            f"{path} is a {kind} model, which runs with PyTorch, and torch cannot be imported here. Install torch, or export "
            "the model to ONNX (`signdistill export --format onnx`), which runs with onnxruntime alone."
        ) from None
    with warnings.catch_warnings():  # torch's quantization API warns about its own deprecation on every call
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        return load_torch_model(path, kind, device=device if kind == "fp32" else "cpu")


__all__ = [
    "CHECKPOINT_META",
    "EXPORT_FORMATS",
    "KINDS",
    "ONNX_FILE",
    "ONNX_META",
    "WEIGHTS_FILE",
    "export_file",
    "is_export",
    "load_model",
    "model_format",
    "model_kind",
    "onnx_int8_kind",
]
