"""Does an export decode like its checkpoint? Parity of log-probs and greedy transcripts, and WER.

``signdistill export --check MANIFEST`` and ``signdistill benchmark --manifest`` use it: the max
absolute log-prob difference and the share of identical greedy transcripts per batch size, and
the greedy WER of both on the manifest (at batch 1). fp32 exports (safetensors, ONNX) must
decode every utterance as the checkpoint does; fp16 and int8 are reported without a verdict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signdistill.decoding.collapse import collapse_ids
from signdistill.formats import load_model
from signdistill.runner import Model, run_all, run_batches


def _greedy(lp: np.ndarray, n: int) -> list[int]:
    return collapse_ids(lp[:n].argmax(-1).tolist())


def parity(reference: Model, other: Model, features: list[np.ndarray], batch_size: int) -> dict[str, float]:
    """Compare two models on the same (normalized) utterances, batched ``batch_size`` at a time (input order)."""
    max_diff = 0.0
    same = 0
    for (_, a), (_, o) in zip(run_batches(reference, features, batch_size), run_batches(other, features, batch_size)):
        for x, y in zip(a, o):
            max_diff = max(max_diff, float(np.abs(x - y).max()))
            same += _greedy(x, len(x)) == _greedy(y, len(y))
    return {"max_abs_logprob_diff": max_diff, "identical_transcripts": same / max(len(features), 1)}


def check_export(
    checkpoint: str | os.PathLike[str],
    exported: str | os.PathLike[str],
    manifest: str | os.PathLike[str] | Data,
    *,
    batch_sizes: tuple[int, ...] = (1, 8),
) -> dict[str, Any]:
    """Parity of an export against its checkpoint on a manifest: max |log-prob diff|,
    share of identical greedy transcripts (per batch size), and the WER of both."""
    ref = load_model(checkpoint)
    return check_models(ref, {"export": load_model(exported)}, manifest, batch_sizes=batch_sizes)["export"]


Data = tuple[list[np.ndarray], list[list[str]]]


def manifest_data(reference: Model, manifest: str | os.PathLike[str], option: str | None = None) -> Data:
    """Normalized features and reference glosses of every utterance. Errors name the line or file,
    and ``option`` (e.g. ``--check``) when given, so that a command can read its manifest first."""
    from signdistill.data import load_features, read_manifest
    from signdistill.errors import DataError

    try:
        utts = read_manifest(manifest)
        if not utts:
            raise DataError(f"{manifest} holds no utterances.")
        dim = reference.input_dim
        feats = [reference.normalizer(load_features(u.features, expect_dim=dim, context=f"utterance {u.id!r}")) for u in utts]
    except DataError as exc:
        if option is None:
            raise
        raise DataError(f"{option} {manifest}: {exc}") from None
    return feats, [list(u.glosses) for u in utts]


def read_check_manifest(checkpoint: str | os.PathLike[str], manifest: str | os.PathLike[str], option: str) -> Data:
    """:func:`manifest_data` against a checkpoint, before the work that needs it (``export --check``)."""
    return manifest_data(load_model(checkpoint), manifest, option)


def check_models(
    reference: Model,
    others: dict[str, Model],
    manifest: str | os.PathLike[str] | Data,
    *,
    batch_sizes: tuple[int, ...] = (1, 8),
) -> dict[str, dict[str, Any]]:
    """:func:`check_export`'s figures for several models against one reference on the same manifest
    (or its :func:`manifest_data`, read beforehand); WER greedy at batch 1, the reference decoded once."""
    from signdistill.evaluation import word_error_rate

    feats, refs = manifest if isinstance(manifest, tuple) else manifest_data(reference, manifest)

    def wer(m: Model) -> float:
        hyps = [m.vocab.decode(_greedy(lp, len(lp))) for lp in run_all(m, feats, 1)]
        return word_error_rate(refs, hyps).wer

    wer_reference = wer(reference)
    results = {}
    for name, other in others.items():
        out: dict[str, Any] = {"format": other.kind, "utterances": len(feats), "by_batch_size": {}}
        for bs in batch_sizes:
            out["by_batch_size"][bs] = parity(reference, other, feats, bs)
        out["wer_reference"] = wer_reference
        out["wer_export"] = wer(other)
        out["max_abs_logprob_diff"] = max(v["max_abs_logprob_diff"] for v in out["by_batch_size"].values())
        out["identical_transcripts"] = min(v["identical_transcripts"] for v in out["by_batch_size"].values())
        results[name] = out
    return results


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
    manifest: str | os.PathLike[str] | Data,
    *,
    format: str = "safetensors",
    dtype: str = "fp32",
) -> ParityVerdict:
    """:func:`check_export` plus the verdict: an fp32 export (safetensors or ONNX) must decode identically."""
    figures = check_export(checkpoint, exported, manifest)
    return ParityVerdict(Path(exported), figures, exact=format in ("safetensors", "onnx") and dtype == "fp32")


__all__ = ["ParityVerdict", "check_export", "check_models", "manifest_data", "parity", "read_check_manifest", "verify_export"]
