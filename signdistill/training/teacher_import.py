"""Import a teacher's outputs from another code base as a teacher cache that ``distill`` reads.

A folder holds one ``<utterance id>.npy`` per training utterance: a ``(T', V')`` float array
of the teacher's logits or log-probabilities at its own frame rate (a video network that
pools time by 4 gives ``T' ~ T / 4``), and a vocabulary file names the teacher's ``V'``
classes, one per line, the blank's index given explicitly. The import

- maps the teacher's classes onto the student's vocabulary by gloss name (a student gloss
  the teacher does not know is an error listing them; the probability of glosses only the
  teacher knows is added to the student's ``<unk>``, and counted),
- converts logits to log-probabilities (``kind="auto"`` takes an array whose frames already
  normalize, ``|logsumexp| < 1e-3``, for log-probabilities),
- brings them to the input's frame rate by area averaging in probability space
  (:func:`signdistill.losses.rates.resample_log_probs`; the student then distills from
  them exactly as from a cache of its own teacher), and
- writes top-k log-probs, indices and greedy transcripts in the cache format of
  :func:`signdistill.training.distill.write_teacher_cache`, recording the teacher's stride
  and kind.

Frame-count rule: with ``stride`` s and ``T`` input frames, ``T'`` must lie within one frame of
``T / s`` (``floor(T/s) - 1 <= T' <= ceil(T/s) + 1``): padding and pooling in another code
base may add or drop a frame; anything further off means another stride or another utterance.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from signdistill.data import Vocabulary, load_features, read_manifest
from signdistill.decoding import greedy_decode
from signdistill.defaults import TEACHER_TOPK
from signdistill.errors import DataError
from signdistill.io import check_output_path, refuse_output_clashes, write_json_atomic
from signdistill.losses.rates import resample_log_probs
from signdistill.training.distill import CACHE_INDEX, _write_shard, is_teacher_cache  # the same cache format

Kind = Literal["auto", "logits", "log-probs"]


@dataclass
class ImportReport:
    """What an import did (``to_dict()`` is the JSON the CLI prints)."""

    utterances: int
    frames: int
    teacher_classes: int
    merged_glosses: list[str]
    kind: str
    stride: int
    out: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_teacher_vocab(path: str | os.PathLike[str], blank: int) -> list[str]:
    """The teacher's classes, one per line (blank lines are errors: every index must be named)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"Teacher vocabulary {p} cannot be read ({exc}). Give a UTF-8 text file, one class per line.") from None
    while lines and not lines[-1].strip():
        lines.pop()
    empty = [i + 1 for i, x in enumerate(lines) if not x.strip()]
    if empty or not lines:
        where = f"line(s) {empty[:5]} are empty" if empty else "it is empty"
        raise DataError(f"Teacher vocabulary {p}: {where}. Name every output class, one per line, in the teacher's index order.")
    tokens = [x.strip() for x in lines]
    dup = sorted({t for t in tokens if tokens.count(t) > 1})
    if dup:
        raise DataError(f"Teacher vocabulary {p} names {dup[:5]} more than once; each output class needs its own name.")
    if not 0 <= blank < len(tokens):
        raise DataError(f"--blank {blank} is not an index of {p} ({len(tokens)} classes, 0..{len(tokens) - 1}).")
    return tokens


def class_map(teacher_tokens: list[str], blank: int, vocab: Vocabulary, source: str) -> tuple[torch.Tensor, list[str]]:
    """Student index of every teacher class (teacher-only glosses -> ``<unk>``), and those merged glosses."""
    teacher_glosses = {t for i, t in enumerate(teacher_tokens) if i != blank}
    missing = [g for g in vocab.tokens[2:] if g not in teacher_glosses]
    if missing:
        raise DataError(
            f"Teacher vocabulary {source} lacks {len(missing)} gloss(es) of the student's training data, e.g. {missing[:8]}. "
            "The teacher must know every gloss the student learns: map them in the vocabulary file or retrain the teacher."
        )
    target = torch.empty(len(teacher_tokens), dtype=torch.long)
    merged = []
    for i, t in enumerate(teacher_tokens):
        if i == blank:
            target[i] = vocab.blank
        elif t in vocab.index and t != vocab.tokens[0]:
            target[i] = vocab.index[t]  # the student's glosses, and its <unk> for the teacher's own unknown class
        else:
            target[i] = vocab.unk
            merged.append(t)
    return target, merged


def _frames_ok(t_teacher: int, t_input: int, stride: int) -> bool:
    return math.floor(t_input / stride) - 1 <= t_teacher <= math.ceil(t_input / stride) + 1


def _load_outputs(path: Path, uid: str, classes: int, t_input: int, stride: int) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"Teacher output {path} (utterance {uid!r}) cannot be read as a .npy array ({exc}).") from None
    if arr.ndim != 2:
        raise DataError(f"Teacher output {path} has shape {arr.shape}; it must be (frames, classes), one utterance per file.")
    if arr.shape[1] != classes:
        raise DataError(f"Teacher output {path} has {arr.shape[1]} classes; the teacher vocabulary names {classes}.")
    if not np.issubdtype(arr.dtype, np.floating) or np.isnan(arr).any() or np.isposinf(arr).any() or not np.isfinite(arr.max(axis=1)).all():
        raise DataError(
            f"Teacher output {path} holds NaN, +inf, a frame without any finite value, or non-float values; export the "
            "teacher's logits or log-probs as floats (-inf, a probability of 0, is fine)."
        )
    if not _frames_ok(arr.shape[0], t_input, stride):
        raise DataError(
            f"Teacher output {path} has {arr.shape[0]} frames, but utterance {uid!r} has {t_input} input frames: at --stride "
            f"{stride} the teacher should give {t_input / stride:.1f} (+-1). Check --stride, or that the file belongs to this utterance."
        )
    return arr.astype(np.float32)


def _to_student(arr: np.ndarray, kind: Kind, target: torch.Tensor, n_student: int) -> tuple[torch.Tensor, str]:
    """``(T', V')`` teacher outputs -> ``(T', V)`` student log-probs (classes merged in probability space)."""
    x = torch.from_numpy(arr).double()
    lse = torch.logsumexp(x, dim=-1)
    if kind == "log-probs" and not bool((lse.abs() < 1e-3).all()):
        raise DataError(
            f"--kind log-probs, but frames do not normalize (largest |logsumexp| {float(lse.abs().max()):.3g}); "
            "give --kind logits (or auto) for raw scores."
        )
    found = "log-probs" if kind == "log-probs" or (kind == "auto" and bool((lse.abs() < 1e-3).all())) else "logits"
    probs = torch.softmax(x, dim=-1)
    out = torch.zeros(x.shape[0], n_student, dtype=torch.float64).index_add_(1, target, probs)
    return out.clamp(min=1e-30).log(), found


def _cache_tensors(
    utts: list[Any],
    folder: Path,
    manifest: str,
    teacher_tokens: list[str],
    target: torch.Tensor,
    n_vocab: int,
    stride: int,
    kind: Kind,
    k: int,
) -> tuple[dict[str, torch.Tensor], int, set[str]]:
    """Per utterance: the teacher's outputs at the input's frame rate as top-k values, indices and greedy transcript."""
    tensors: dict[str, torch.Tensor] = {}
    frames, kinds = 0, set()
    for u in utts:
        t_input = load_features(u.features, context=f"utterance {u.id!r} of {manifest}").shape[0]
        arr = _load_outputs(folder / f"{u.id}.npy", u.id, len(teacher_tokens), t_input, stride)
        lp, found = _to_student(arr, kind, target, n_vocab)
        kinds.add(found)
        lp = resample_log_probs(lp[None], torch.tensor([lp.shape[0]]), torch.tensor([t_input]))[0]  # (T, V)
        vals, inds = lp.float().topk(k, dim=-1)
        tensors[f"{u.id}/values"] = vals.half().contiguous()
        tensors[f"{u.id}/indices"] = inds.to(torch.int16 if n_vocab < 2**15 else torch.int32).contiguous()
        tensors[f"{u.id}/sequence"] = torch.tensor(greedy_decode(lp[None].float(), torch.tensor([t_input]))[0], dtype=torch.int32)
        frames += t_input
    return tensors, frames, kinds


def import_teacher_outputs(
    folder: str | os.PathLike[str],
    vocab_file: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    blank: int,
    stride: int = 1,
    kind: Kind = "auto",
    topk: int = TEACHER_TOPK,
    overwrite: bool = False,
    unlabeled: str | os.PathLike[str] | None = None,
) -> ImportReport:
    """Turn a folder of foreign teacher outputs into a teacher cache for the utterances of ``manifest``."""
    if stride < 1 or topk < 1:
        raise DataError(f"--stride and --topk must be >= 1 (got {stride} and {topk}).")
    if kind not in ("auto", "logits", "log-probs"):
        raise DataError(f"--kind must be auto, logits or log-probs (got {kind!r}).")
    folder, out = Path(folder), Path(out)
    inputs = [("--import", folder), ("--vocab", Path(vocab_file)), ("--manifest", Path(manifest)), ("--unlabeled", unlabeled)]
    refuse_output_clashes([("--out", out)], inputs)
    if not folder.is_dir():
        raise DataError(f"--import {folder} is not a folder of <utterance id>.npy teacher outputs.")
    utts = read_manifest(manifest)
    vocab = Vocabulary.build(u.glosses for u in utts)
    if unlabeled is not None:  # data.unlabeled's recordings: the cache covers them too (vocabulary: the labelled ones')
        from signdistill.data.unlabeled import read_unlabeled_manifest

        utts = utts + read_unlabeled_manifest(unlabeled, labelled_ids={u.id for u in utts})
    teacher_tokens = read_teacher_vocab(vocab_file, blank)
    target, merged = class_map(teacher_tokens, blank, vocab, str(vocab_file))
    absent = [u.id for u in utts if not (folder / f"{u.id}.npy").is_file()]
    if absent:
        raise DataError(
            f"--import {folder} has no teacher output for {len(absent)} of the {len(utts)} utterances of {manifest}"
            f"{f' and {unlabeled}' if unlabeled is not None else ''}, e.g. "
            f"{[f'{a}.npy' for a in absent[:3]]}. Export the teacher on every training utterance (one <id>.npy each)."
        )
    check_output_path(out, kind="teacher cache", overwrite=overwrite, is_ours=is_teacher_cache)
    k = min(topk, len(vocab))
    # Every file is read and checked before anything is written: a bad one leaves --out as it was.
    tensors, frames, kinds = _cache_tensors(utts, folder, str(manifest), teacher_tokens, target, len(vocab), stride, kind, k)
    out.mkdir(parents=True, exist_ok=True)
    (out / CACHE_INDEX).unlink(missing_ok=True)  # an interrupted rewrite is never read as a cache
    found_kind = "+".join(sorted(kinds))
    info = {
        "topk": k,
        "vocabulary": vocab.tokens,
        "shards": [_write_shard(out, 0, tensors)],
        "utterances": len(utts),
        "frames": frames,
        "bytes_per_frame": k * (2 + (2 if len(vocab) < 2**15 else 4)),
        "train_manifest": str(manifest),
        "unlabeled_manifest": None if unlabeled is None else str(unlabeled),
        "teacher_import": {"folder": str(folder), "vocab": str(vocab_file), "blank": blank, "stride": stride, "kind": found_kind},
        "merged_glosses": merged,
    }
    write_json_atomic(out / CACHE_INDEX, info)
    return ImportReport(len(utts), frames, len(teacher_tokens), merged, found_kind, stride, str(out))
