"""Score hypotheses against references: the one scoring function every caller uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from signdistill.evaluation.phoenix import phoenix_cleanup
from signdistill.evaluation.wer import jiwer_wer, word_error_rate


def score(
    refs: Sequence[Sequence[str]],
    hyps: Sequence[Sequence[str]],
    ids: Sequence[str],
    signers: Sequence[str | None],
    *,
    cleanup: bool = False,
    with_jiwer: bool = True,
) -> dict[str, Any]:
    """WER breakdown (sclite costs), jiwer's WER, blank rate and hypotheses of one decoded set.

    Args:
        refs: reference glosses per utterance.
        hyps: hypothesis glosses per utterance (same order).
        ids: utterance ids, keys of ``hypotheses`` in the result.
        signers: signer per utterance (``None`` where unknown), for the per-signer breakdown.
        cleanup: apply the PHOENIX-2014 evaluation rewrites to both sides first.
        with_jiwer: also report ``wer_jiwer`` (unit-cost alignment, as Hugging Face
            ``evaluate`` reports it); the per-epoch dev score leaves it out.

    Returns:
        :meth:`WerResult.to_dict` plus ``wer_jiwer`` (with ``with_jiwer``), ``blank_rate``
        (share of empty hypotheses) and ``hypotheses`` (id -> space-joined glosses).

    Example:
        >>> score([["A", "B"]], [["A"]], ["u1"], [None])["wer"]
        50.0
    """
    refs = [list(r) for r in refs]
    hyps = [list(h) for h in hyps]
    if cleanup:
        refs = [phoenix_cleanup(r) or ["[EMPTY]"] for r in refs]
        hyps = [phoenix_cleanup(h) for h in hyps]
    out = word_error_rate(refs, hyps, list(signers)).to_dict()
    if with_jiwer:
        out["wer_jiwer"] = jiwer_wer(refs, hyps)
    out["blank_rate"] = sum(not h for h in hyps) / max(len(hyps), 1)
    out["hypotheses"] = {i: " ".join(h) for i, h in zip(ids, hyps)}
    return out
