"""Hard pseudo-labels for the unlabeled utterances of a training set, from frozen teacher(s) or a cache.

The teacher transcribes each unlabeled utterance once, on its clean (unaugmented) features,
greedily; the student then trains on the augmented view (noisy student, Xie et al. 2020;
Park et al. 2020 for ASR). Hard labels, not the teacher's soft posteriors alone: soft
pseudo-labels on unlabeled CTC data can collapse to a degenerate per-frame distribution
(Likhomanenko et al. 2022). A frozen teacher needs no refreshed cache (slimIPL's is for a
teacher that is the student itself).

Confidence of a transcript: the geometric mean of the teacher's top posterior over the frames
where it emits a gloss, ``exp(mean_{t: argmax_t != blank} max_v log p_t(v))`` (0 for an empty
transcript). Blank frames are left out: they are confident almost everywhere, and a score over
all frames hardly separates good transcripts from bad ones (benchmarks/pseudo_labels.py and
docs/benchmarks.md). Utterances below ``min_confidence`` keep weight 0 in the CTC term and
still get the label-free terms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from signdistill.data.dataset import SignDataset, collate
from signdistill.decoding import greedy_decode
from signdistill.losses import teacher_log_probs
from signdistill.models import CTCModel


@dataclass
class PseudoLabelReport:
    """What pseudo-labelling did: utterances, how many kept a label, confidences (``to_dict()`` is the JSON)."""

    utterances: int
    labelled: int
    min_confidence: float
    mean_confidence: float
    mean_confidence_kept: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _apply(data: SignDataset, found: dict[int, tuple[list[int], float]], min_confidence: float, weight: float) -> PseudoLabelReport:
    kept = [c for tokens, c in found.values() if tokens and c >= min_confidence]
    for i, (tokens, conf) in found.items():
        if tokens and conf >= min_confidence:
            data.set_targets(i, tokens, weight)
    confs = [c for _, c in found.values()]
    return PseudoLabelReport(
        utterances=len(found),
        labelled=len(kept),
        min_confidence=min_confidence,
        mean_confidence=sum(confs) / max(len(confs), 1),
        mean_confidence_kept=sum(kept) / max(len(kept), 1),
    )


def emission_confidence(top_log_probs: torch.Tensor, top_ids: torch.Tensor, blank: int = 0) -> float:
    """``exp(mean log p)`` of the top class over the frames whose top class is not ``blank`` (0 if none).

    Args:
        top_log_probs: ``(T,)`` the largest log-probability per frame.
        top_ids: ``(T,)`` its class per frame.
    """
    emitting = top_ids != blank
    if not bool(emitting.any()):
        return 0.0
    return math.exp(float(top_log_probs[emitting].mean()))


@torch.no_grad()
def teacher_transcripts(
    teachers: Sequence[CTCModel],
    weights: Sequence[float] | None,
    data: SignDataset,
    indices: Sequence[int],
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
) -> dict[int, tuple[list[int], float]]:
    """Greedy transcript and confidence of the (mixed, T = 1) teacher posteriors per utterance index."""
    out: dict[int, tuple[list[int], float]] = {}
    order = sorted(indices, key=lambda i: data.raw[i].shape[0])
    for t in teachers:
        t.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        items = [
            {"index": i, "id": data.utterances[i].id, "signer": None, "features": data.features(i), "targets": data.targets[i]} for i in idx
        ]
        batch = collate(items).to(device)
        dtype = next(iter(teachers[0].parameters()), batch.features).dtype  # a bf16 teacher takes bf16 input
        feats = batch.features if dtype == torch.float32 else batch.features.to(dtype)
        outs = [t(feats, batch.lengths) for t in teachers]
        logits = [o.logits.float() for o in outs]
        lengths = outs[0].lengths  # the teacher's frames (fewer for one that subsamples time)
        lp = teacher_log_probs(logits if len(logits) > 1 else logits[0], 1.0, weights=weights if len(logits) > 1 else None)
        mask = torch.arange(lp.shape[1], device=lp.device)[None, :] < lengths[:, None]
        best, arg = lp.max(dim=-1)  # (B, T)
        for b, (i, seq) in enumerate(zip(idx, greedy_decode(lp, lengths))):
            out[i] = (list(seq), emission_confidence(best[b][mask[b]], arg[b][mask[b]]))
    return out


def pseudo_label(
    teachers: Sequence[CTCModel],
    weights: Sequence[float] | None,
    data: SignDataset,
    *,
    min_confidence: float = 0.0,
    weight: float = 1.0,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
) -> PseudoLabelReport:
    """Give every unlabeled utterance of ``data`` the teacher's transcript as its targets (weight ``weight``)."""
    indices = range(data.num_labelled, len(data))
    found = teacher_transcripts(teachers, weights, data, indices, batch_size=batch_size, device=device)
    return _apply(data, found, min_confidence, weight)


def pseudo_label_from_cache(cache: Any, data: SignDataset, *, min_confidence: float = 0.0, weight: float = 1.0) -> PseudoLabelReport:
    """The same from a teacher cache: its stored greedy transcripts, confidence from its top-1 log-probs."""
    found: dict[int, tuple[list[int], float]] = {}
    for i in range(data.num_labelled, len(data)):
        uid = data.utterances[i].id
        found[i] = (list(cache.sequences[uid]), emission_confidence(cache.values[uid][:, 0].float(), cache.indices[uid][:, 0].long()))
    return _apply(data, found, min_confidence, weight)
