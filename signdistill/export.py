"""Export a trained model for inference: safetensors (fp32/fp16), ONNX, dynamic int8.

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
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from signdistill.checkpoint import load_checkpoint, save_checkpoint
from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary
from signdistill.decoding.collapse import collapse_ids
from signdistill.errors import CheckpointError, SignDistillError
from signdistill.io import check_output_path, replace_dir_atomic
from signdistill.models import CTCModel, ModelSpec

FORMATS = ("safetensors", "onnx", "int8")
ONNX_FILE = "model.onnx"
ONNX_META = "model.json"


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


def quantize_int8(model: CTCModel) -> nn.Module:
    """Dynamic int8 quantization of the LSTM and Linear layers (CPU inference)."""
    return torch.ao.quantization.quantize_dynamic(model.float().eval(), {nn.LSTM, nn.Linear}, dtype=torch.qint8)


def export(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    format: str = "safetensors",
    dtype: str = "fp32",
    opset: int = 17,
    overwrite: bool = False,
) -> Path:
    """Export ``checkpoint`` to the folder ``out`` (written atomically); returns ``out``.

    An existing ``out`` is replaced only if it is a previous export and ``overwrite`` is
    set; any other existing file or folder is refused before anything is touched.
    """
    if format not in FORMATS:
        raise SignDistillError(f"--format {format!r} is not supported; choose one of {list(FORMATS)}.")
    if dtype not in ("fp32", "fp16"):
        raise SignDistillError(f"--dtype {dtype!r} is not supported; choose fp32 or fp16.")
    if dtype == "fp16" and format != "safetensors":
        raise SignDistillError(f"--dtype fp16 applies to the safetensors format only, not {format!r}.")
    if check_output_path(out, kind="export", overwrite=overwrite, is_ours=is_export, swap=True):
        from signdistill.io import refuse_unexpected

        for old in (Path(out), Path(str(out) + ".old")):
            if old.is_dir():
                refuse_unexpected(old, _export_file, "export")
    ckpt = load_checkpoint(checkpoint)
    meta = {"exported_from": str(checkpoint), "format": format, "dtype": dtype}
    if format == "safetensors":
        model = ckpt.model.to(torch.float16) if dtype == "fp16" else ckpt.model
        return save_checkpoint(out, model, ckpt.vocab, ckpt.normalizer, meta=meta)
    if format == "int8":
        return save_checkpoint(out, ckpt.model, ckpt.vocab, ckpt.normalizer, meta={**meta, "dtype": "int8", "quantize": "dynamic_int8"})
    _require_onnx()
    wrapper = _LogProbs(ckpt.model).eval()
    d = ckpt.spec.input_dim
    example = (torch.zeros(2, 16, d), torch.tensor([16, 9]))

    def fill(tmp: Path) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                example,
                str(tmp / ONNX_FILE),
                input_names=["features", "lengths"],
                output_names=["log_probs"],
                dynamic_axes={"features": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "log_probs": {0: "batch", 1: "time"}},
                opset_version=opset,
                dynamo=False,
            )
        info = {
            "format": "onnx",
            "model": ckpt.spec.to_dict(),
            "vocabulary": ckpt.vocab.tokens,
            "normalizer": ckpt.normalizer.to_dict(),
            "inputs": {"features": "float32 (batch, time, D), normalized: (x - mean) / std", "lengths": "int64 (batch,)"},
            "outputs": {"log_probs": "float32 (batch, time, V); index 0 is the CTC blank"},
            "meta": meta,
        }
        (tmp / ONNX_META).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    wrapper.eval()
    return replace_dir_atomic(out, fill)


def _export_file(rel: str) -> bool:
    """A file an export writes (anything else in an export folder is the user's)."""
    return rel in ("checkpoint.json", "model.safetensors", ONNX_FILE, ONNX_META) or rel.endswith(".onnx.data")


def is_export(path: str | os.PathLike[str]) -> bool:
    """True for a folder written by :func:`export` (any format): its metadata names the source checkpoint."""
    for name in (ONNX_META, "checkpoint.json"):
        try:
            info = json.loads((Path(path) / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and isinstance(info.get("meta"), dict) and "exported_from" in info["meta"]:
            return True
    return False


@dataclass
class InferenceModel:
    """A loaded model of any export format, run the same way: normalized features -> log-probs."""

    kind: str
    vocab: Vocabulary
    normalizer: Normalizer
    spec: ModelSpec
    runner: Any
    path: Path

    def log_probs(self, features: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``features (B, T, D)`` normalized float32, ``lengths (B,)`` -> ``(B, T, V)`` log-probs."""
        if self.kind == "onnx":
            return self.runner.run(None, {"features": features.astype(np.float32), "lengths": lengths.astype(np.int64)})[0]
        with torch.no_grad():
            x = torch.from_numpy(features)
            p = next(iter(self.runner.parameters()), None) if self.kind != "int8" else None
            if p is not None and p.dtype == torch.float16:
                x = x.half()
            out = self.runner(x, torch.from_numpy(lengths.astype(np.int64))).logits
            return torch.log_softmax(out.float(), dim=-1).numpy()

    def size_bytes(self) -> int:
        if self.kind == "onnx":
            return (self.path / ONNX_FILE).stat().st_size
        if self.kind == "int8":
            import io

            buf = io.BytesIO()
            torch.save(self.runner.state_dict(), buf)  # measuring only: packed int8 weights
            return buf.tell()
        return (self.path / "model.safetensors").stat().st_size


def load_inference_model(path: str | os.PathLike[str], *, threads: int | None = None) -> InferenceModel:
    """Load a checkpoint or any export folder for inference."""
    path = Path(path)
    if (path / ONNX_FILE).is_file():
        try:
            import onnxruntime as ort
        except ImportError:
            raise SignDistillError("Running an ONNX export needs onnxruntime: pip install 'signdistill[onnx]'") from None
        try:
            info = json.loads((path / ONNX_META).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{path / ONNX_META} is missing or damaged ({exc}); re-export the model.") from None
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path / ONNX_FILE), opts, providers=["CPUExecutionProvider"])
        return InferenceModel(
            "onnx",
            Vocabulary(info["vocabulary"]),
            Normalizer.from_dict(info["normalizer"]),
            ModelSpec.from_dict(info["model"]),
            session,
            path,
        )
    ckpt = load_checkpoint(path)
    quant = ckpt.meta.get("quantize")
    if quant == "dynamic_int8":
        return InferenceModel("int8", ckpt.vocab, ckpt.normalizer, ckpt.spec, quantize_int8(ckpt.model), path)
    kind = "fp16" if ckpt.meta.get("dtype") == "fp16" else "fp32"
    model = ckpt.model.half() if kind == "fp16" else ckpt.model
    return InferenceModel(kind, ckpt.vocab, ckpt.normalizer, ckpt.spec, model.eval(), path)


def _greedy(lp: np.ndarray, n: int) -> list[int]:
    return collapse_ids(lp[:n].argmax(-1).tolist())


def parity(reference: InferenceModel, other: InferenceModel, features: list[np.ndarray], batch_size: int) -> dict[str, float]:
    """Compare two models on the same (normalized) utterances, batched ``batch_size`` at a time."""
    max_diff = 0.0
    same = 0
    for start in range(0, len(features), batch_size):
        chunk = features[start : start + batch_size]
        lengths = np.array([f.shape[0] for f in chunk], dtype=np.int64)
        x = np.zeros((len(chunk), int(lengths.max()), chunk[0].shape[1]), np.float32)
        for b, f in enumerate(chunk):
            x[b, : f.shape[0]] = f
        a = reference.log_probs(x, lengths)
        o = other.log_probs(x, lengths)
        for b, n in enumerate(lengths.tolist()):
            max_diff = max(max_diff, float(np.abs(a[b, :n] - o[b, :n]).max()))
            same += _greedy(a[b], n) == _greedy(o[b], n)
    return {"max_abs_logprob_diff": max_diff, "identical_transcripts": same / max(len(features), 1)}


def check_export(
    checkpoint: str | os.PathLike[str],
    exported: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    *,
    batch_sizes: tuple[int, ...] = (1, 8),
) -> dict[str, Any]:
    """Parity of an export against its checkpoint on a manifest: max |log-prob diff|,
    share of identical greedy transcripts (per batch size), and the WER of both."""
    from signdistill.data import load_features, read_manifest
    from signdistill.evaluation import word_error_rate

    ref = load_inference_model(checkpoint)
    other = load_inference_model(exported)
    utts = read_manifest(manifest)
    feats = [ref.normalizer(load_features(u.features, expect_dim=ref.spec.input_dim, context=f"utterance {u.id!r}")) for u in utts]
    out: dict[str, Any] = {"format": other.kind, "utterances": len(utts), "by_batch_size": {}}
    for bs in batch_sizes:
        out["by_batch_size"][bs] = parity(ref, other, feats, bs)
    refs = [list(u.glosses) for u in utts]

    def wer(m: InferenceModel) -> float:
        hyps = []
        for f in feats:
            lp = m.log_probs(f[None], np.array([f.shape[0]]))[0]
            hyps.append(m.vocab.decode(_greedy(lp, f.shape[0])))
        return word_error_rate(refs, hyps).wer

    out["wer_reference"] = wer(ref)
    out["wer_export"] = wer(other)
    out["max_abs_logprob_diff"] = max(v["max_abs_logprob_diff"] for v in out["by_batch_size"].values())
    out["identical_transcripts"] = min(v["identical_transcripts"] for v in out["by_batch_size"].values())
    return out


@dataclass
class ParityVerdict:
    """An export checked against its checkpoint: the figures of :func:`check_export` and what they mean.

    ``exact`` exports (fp32 safetensors or ONNX) must decode every utterance as the checkpoint
    does; fp16 and int8 may differ, and their figures are reported without a verdict.
    """

    path: Path
    figures: dict[str, Any]
    exact: bool

    @property
    def differing_share(self) -> float:
        """Share of utterances whose greedy transcript differs from the checkpoint's (worst batch size)."""
        return 1.0 - self.figures["identical_transcripts"]

    @property
    def ok(self) -> bool:
        return not self.exact or self.figures["identical_transcripts"] >= 1.0


def verify_export(
    checkpoint: str | os.PathLike[str],
    exported: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    *,
    format: str = "safetensors",
    dtype: str = "fp32",
) -> ParityVerdict:
    """:func:`check_export` plus the verdict: an fp32 export (safetensors or ONNX) must decode identically."""
    figures = check_export(checkpoint, exported, manifest)
    return ParityVerdict(Path(exported), figures, exact=format in ("safetensors", "onnx") and dtype == "fp32")


def benchmark(model: InferenceModel, *, frames: int = 300, batch: int = 8, repeats: int = 20, threads: int | None = 1) -> dict[str, float]:
    """Frames/s at batch 1 and batched, latency percentiles (batch 1), real-time factor at 30 fps."""
    import resource

    prev = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        rng = np.random.default_rng(0)
        one = rng.standard_normal((1, frames, model.spec.input_dim)).astype(np.float32)
        many = rng.standard_normal((batch, frames, model.spec.input_dim)).astype(np.float32)
        l1 = np.array([frames], np.int64)
        lb = np.full(batch, frames, np.int64)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        model.log_probs(one, l1)
        lat = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.log_probs(one, l1)
            lat.append(time.perf_counter() - t0)
        model.log_probs(many, lb)
        tb = []
        for _ in range(max(3, repeats // 4)):
            t0 = time.perf_counter()
            model.log_probs(many, lb)
            tb.append(time.perf_counter() - t0)
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        torch.set_num_threads(prev)
    lat_ms = np.array(lat) * 1000
    fps1 = frames / float(np.median(lat))
    return {
        "frames_per_s_batch1": fps1,
        "frames_per_s_batched": batch * frames / float(np.median(tb)),
        "latency_ms_p50": float(np.percentile(lat_ms, 50)),
        "latency_ms_p90": float(np.percentile(lat_ms, 90)),
        "latency_ms_p99": float(np.percentile(lat_ms, 99)),
        "real_time_factor_at_30fps": 30.0 / fps1,
        "size_bytes": model.size_bytes(),
        "peak_rss_growth_mb": max(0, rss1 - rss0) / 1024,
    }


def temporary_exports(checkpoint: str | os.PathLike[str], formats: tuple[str, ...] = ("int8", "onnx")) -> tuple[Path, dict[str, Path]]:
    """Export a checkpoint to a temp folder in each format (for benchmarks and parity checks)."""
    root = Path(tempfile.mkdtemp(prefix="signdistill-export-"))
    paths = {}
    for fmt in formats:
        if fmt == "onnx":
            try:
                _require_onnx()
                import onnxruntime  # noqa: F401
            except (SignDistillError, ImportError):
                continue
        paths[fmt] = export(checkpoint, root / fmt, format=fmt)
    return root, paths


__all__ = [
    "FORMATS",
    "InferenceModel",
    "ParityVerdict",
    "benchmark",
    "check_export",
    "export",
    "is_export",
    "load_inference_model",
    "parity",
    "quantize_int8",
    "temporary_exports",
    "verify_export",
]
