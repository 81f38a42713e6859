"""Export a trained model for inference: safetensors (fp32/fp16), ONNX, int8 (PyTorch or ONNX).

Every export is a folder that carries the vocabulary and the feature normalizer with the
model, so it decodes on its own; training-only parts (FitNets projections, optimizer
state, the run's config) never reach it.

* ``safetensors``: ``model.safetensors`` (fp32 or fp16) + ``checkpoint.json``; it is itself a
  checkpoint folder, so ``evaluate`` reads it.
* ``onnx``: ``model.onnx`` (inputs ``features (batch, time, D)`` normalized float32 and
  ``lengths (batch,)`` int64; output ``log_probs (batch, time, V)``, dynamic batch and time
  axes) + ``model.json`` (spec, vocabulary, normalizer). Exported with the TorchScript-based
  exporter, which keeps the time axis symbolic (the dynamo exporter was seen to bake the
  export length into a Reshape); tested at several lengths and batch sizes.
* ``int8``: fp32 weights in safetensors plus ``"quantize": "dynamic_int8"``; the loader
  applies ``torch.ao.quantization.quantize_dynamic`` to the LSTM and Linear layers, a
  deterministic function of the weights. (Storing the quantized modules themselves would
  need pickle or TorchScript archives, which this project never loads.)
* ``onnx-int8``: like ``onnx``, but the graph is quantized by onnxruntime and stored int8 on
  disk (:mod:`signdistill.quantization`: ``dynamic``, or ``static`` with a calibration
  manifest); ``model.json`` records how under ``"quantization"``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from signdistill.checkpoint import load_checkpoint, save_checkpoint
from signdistill.errors import SignDistillError
from signdistill.formats import EXPORT_FORMATS as FORMATS
from signdistill.formats import ONNX_FILE, ONNX_META, export_file, is_export, load_model
from signdistill.inference import quantize_int8
from signdistill.io import check_output_path, replace_dir_atomic
from signdistill.models import CTCModel
from signdistill.quantization import CALIBRATION_UTTERANCES, METHODS, calibration_batches, quantize_onnx, require_quantization
from signdistill.runner import Model

InferenceModel = Model  # the name this module gave the runnable model before signdistill.runner


class _LogProbs(nn.Module):
    """``(features, lengths) -> log_probs``: the graph an ONNX export holds."""

    def __init__(self, model: CTCModel):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.model(features, lengths).logits, dim=-1)


def _require_onnx() -> Any:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise SignDistillError("ONNX export needs the optional package 'onnx': pip install 'signdistill[onnx]'") from None


def export(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    format: str = "safetensors",
    dtype: str = "fp32",
    opset: int = 17,
    overwrite: bool = False,
    quantize: str | None = None,
    calibration: str | os.PathLike[str] | None = None,
    calibration_utterances: int = CALIBRATION_UTTERANCES,
) -> Path:
    """Export ``checkpoint`` to the folder ``out`` (written atomically); returns ``out``.

    An existing ``out`` is replaced only if it is a previous export and ``overwrite`` is
    set; any other existing file or folder is refused before anything is touched.
    ``onnx-int8`` takes ``quantize`` (``dynamic``, the default, or ``static`` with a
    ``calibration`` manifest, of which the first ``calibration_utterances`` are used).
    """
    _check_options(format, dtype, quantize, calibration)
    if check_output_path(out, kind="export", overwrite=overwrite, is_ours=is_export, swap=True):
        from signdistill.io import refuse_unexpected

        for old in (Path(out), Path(str(out) + ".old")):
            if old.is_dir():
                refuse_unexpected(old, export_file, "export")
    ckpt = load_checkpoint(checkpoint)
    meta = {"exported_from": str(checkpoint), "format": format, "dtype": dtype}
    if format == "safetensors":
        model = ckpt.model.to(torch.float16) if dtype == "fp16" else ckpt.model
        return save_checkpoint(out, model, ckpt.vocab, ckpt.normalizer, meta=meta)
    if format == "int8":
        return save_checkpoint(out, ckpt.model, ckpt.vocab, ckpt.normalizer, meta={**meta, "dtype": "int8", "quantize": "dynamic_int8"})
    _require_onnx()
    method = (quantize or "dynamic") if format == "onnx-int8" else None
    if method is not None:
        require_quantization()  # before anything is written
    batches = None
    if method == "static" and calibration is not None:  # read (and validated) before anything is written
        batches = calibration_batches(calibration, ckpt.normalizer, ckpt.spec.input_dim, calibration_utterances)

    def fill(tmp: Path) -> None:
        info: dict[str, Any] = {
            "format": "onnx",
            "model": ckpt.spec.to_dict(),
            "vocabulary": ckpt.vocab.tokens,
            "normalizer": ckpt.normalizer.to_dict(),
            "inputs": {"features": "float32 (batch, time, D), normalized: (x - mean) / std", "lengths": "int64 (batch,)"},
            "outputs": {"log_probs": "float32 (batch, time, V); index 0 is the CTC blank"},
            "meta": {**meta, "dtype": "int8"} if method else meta,
        }
        if method is None:
            _write_onnx(ckpt.model, tmp / ONNX_FILE, opset)
        else:
            with tempfile.TemporaryDirectory(prefix="signdistill-onnx-") as scratch:
                fp32 = Path(scratch) / ONNX_FILE
                _write_onnx(ckpt.model, fp32, opset)
                info["quantization"] = quantize_onnx(fp32, tmp / ONNX_FILE, method=method, calibration=batches)
        (tmp / ONNX_META).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    return replace_dir_atomic(out, fill)


def _check_options(format: str, dtype: str, quantize: str | None, calibration: str | os.PathLike[str] | None) -> None:
    if format not in FORMATS:
        raise SignDistillError(f"--format {format!r} is not supported; choose one of {list(FORMATS)}.")
    if dtype not in ("fp32", "fp16"):
        raise SignDistillError(f"--dtype {dtype!r} is not supported; choose fp32 or fp16.")
    if dtype == "fp16" and format != "safetensors":
        raise SignDistillError(f"--dtype fp16 applies to the safetensors format only, not {format!r}.")
    if quantize is not None and format != "onnx-int8":
        raise SignDistillError(f"--quantize applies to --format onnx-int8 only, not {format!r}.")
    if quantize is not None and quantize not in METHODS:
        raise SignDistillError(f"--quantize {quantize!r} is not supported; choose one of {list(METHODS)}.")
    if calibration is not None and quantize != "static":
        raise SignDistillError("--calibration is used by --format onnx-int8 --quantize static only; drop it or add those.")
    if quantize == "static" and calibration is None:
        raise SignDistillError("--quantize static needs --calibration MANIFEST (typical inputs, e.g. the dev set).")


def _write_onnx(model: CTCModel, path: Path, opset: int) -> None:
    """The fp32 graph ``(features, lengths) -> log_probs`` with dynamic batch and time axes."""
    import warnings

    wrapper = _LogProbs(model).eval()
    d = model.spec.input_dim
    example = (torch.zeros(2, 16, d), torch.tensor([16, 9]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            example,
            str(path),
            input_names=["features", "lengths"],
            output_names=["log_probs"],
            dynamic_axes={"features": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "log_probs": {0: "batch", 1: "time"}},
            opset_version=opset,
            dynamo=False,
        )


def load_inference_model(path: str | os.PathLike[str], *, threads: int | None = None) -> Model:
    """Load a checkpoint or any export folder for inference, on the CPU (:func:`signdistill.formats.load_model`)."""
    return load_model(path, threads=threads)


def temporary_exports(
    checkpoint: str | os.PathLike[str],
    formats: tuple[str, ...] = ("int8", "onnx", "onnx-int8"),
    calibration: str | os.PathLike[str] | None = None,
) -> tuple[Path, dict[str, Path]]:
    """Export a checkpoint to a temp folder in each format (for benchmarks and parity checks).

    ONNX formats are skipped when onnx or onnxruntime is missing; with ``calibration``, a static
    ``onnx-int8`` export is added under the key ``onnx-int8-static``.
    """
    root = Path(tempfile.mkdtemp(prefix="signdistill-export-"))
    paths = {}
    if calibration is not None:
        formats = (*formats, "onnx-int8-static")
    try:
        for fmt in formats:
            if fmt.startswith("onnx"):
                try:
                    _require_onnx()
                    import onnxruntime  # noqa: F401
                except (SignDistillError, ImportError):
                    if fmt == "onnx-int8-static":  # asked for by name: say why it cannot be
                        raise SignDistillError("--calibration needs onnx and onnxruntime: pip install 'signdistill[onnx]'") from None
                    continue
            if fmt == "onnx-int8-static":
                paths[fmt] = export(checkpoint, root / fmt, format="onnx-int8", quantize="static", calibration=calibration)
            else:
                paths[fmt] = export(checkpoint, root / fmt, format=fmt)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root, paths


__all__ = [
    "FORMATS",
    "InferenceModel",
    "export",
    "is_export",
    "load_inference_model",
    "quantize_int8",
    "temporary_exports",
]
