"""Score hypotheses against references: the one scoring function every caller uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from signdistill.evaluation.phoenix import phoenix_cleanup
from signdistill.evaluation.wer import WerResult, jiwer_wer, word_error_rate


@dataclass
class DecodingScore(WerResult):
    """One decoded set, scored: :class:`WerResult`'s figures plus jiwer's WER, blank rate and hypotheses.

    Attributes:
        hypotheses: utterance id -> space-joined hypothesis glosses (after clean-up, when applied).
        blank_rate: share of utterances whose hypothesis is empty.
        wer_jiwer: WER with unit-cost alignment (as jiwer computes it), or None when not computed.
    """

    hypotheses: dict[str, str] = field(default_factory=dict)
    blank_rate: float = 0.0
    wer_jiwer: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """:meth:`WerResult.to_dict`, then ``wer_jiwer`` (when computed), ``blank_rate`` and ``hypotheses``."""
        out: dict[str, Any] = {k: getattr(self, k) for k in WerResult.__dataclass_fields__}
        out["per_signer"] = dict(self.per_signer)
        if self.wer_jiwer is not None:
            out["wer_jiwer"] = self.wer_jiwer
        out["blank_rate"] = self.blank_rate
        out["hypotheses"] = dict(self.hypotheses)
        return out


def score_decoding(
    refs: Sequence[Sequence[str]],
    hyps: Sequence[Sequence[str]],
    ids: Sequence[str],
    signers: Sequence[str | None],
    *,
    cleanup: bool = False,
    with_jiwer: bool = True,
) -> DecodingScore:
    """WER breakdown (sclite costs), jiwer's WER, blank rate and hypotheses of one decoded set.

    Args:
        refs: reference glosses per utterance.
        hyps: hypothesis glosses per utterance (same order).
        ids: utterance ids, keys of ``hypotheses`` in the result.
        signers: signer per utterance (``None`` where unknown), for the per-signer breakdown.
        cleanup: apply the PHOENIX-2014 evaluation rewrites to both sides first.
        with_jiwer: also compute ``wer_jiwer`` (unit-cost alignment, as Hugging Face
            ``evaluate`` reports it); the per-epoch dev score leaves it out.

    Returns:
        A :class:`DecodingScore`; its ``to_dict()`` is the JSON ``evaluate --json`` writes per decoder.

    Example:
        >>> score_decoding([["A", "B"]], [["A"]], ["u1"], [None]).wer
        50.0
    """
    refs = [list(r) for r in refs]
    hyps = [list(h) for h in hyps]
    if cleanup:
        refs = [phoenix_cleanup(r) or ["[EMPTY]"] for r in refs]
        hyps = [phoenix_cleanup(h) for h in hyps]
    wer = word_error_rate(refs, hyps, list(signers))
    return DecodingScore(
        **vars(wer),
        hypotheses={i: " ".join(h) for i, h in zip(ids, hyps)},
        blank_rate=sum(not h for h in hyps) / max(len(hyps), 1),
        wer_jiwer=jiwer_wer(refs, hyps) if with_jiwer else None,
    )


def score(
    refs: Sequence[Sequence[str]],
    hyps: Sequence[Sequence[str]],
    ids: Sequence[str],
    signers: Sequence[str | None],
    *,
    cleanup: bool = False,
    with_jiwer: bool = True,
) -> dict[str, Any]:
    """:func:`score_decoding` as a plain dict (its ``to_dict()``), for callers that still index by key.

    Example:
        >>> score([["A", "B"]], [["A"]], ["u1"], [None])["wer"]
        50.0
    """
    return score_decoding(refs, hyps, ids, signers, cleanup=cleanup, with_jiwer=with_jiwer).to_dict()
