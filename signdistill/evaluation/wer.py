"""Word (gloss) error rate with its breakdown, via jiwer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import jiwer


@dataclass
class WerResult:
    """WER in percent with substitutions, deletions, insertions, sentence error rate."""

    wer: float
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int
    sentences: int
    sentence_error_rate: float
    per_signer: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _counts(refs: list[str], hyps: list[str]) -> tuple[int, int, int, int]:
    out = jiwer.process_words(refs, hyps)
    n = sum(len(r.split()) for r in refs)
    return out.substitutions, out.deletions, out.insertions, n


def word_error_rate(
    references: Sequence[Sequence[str]],
    hypotheses: Sequence[Sequence[str]],
    signers: Sequence[str | None] | None = None,
) -> WerResult:
    """Score gloss sequences. ``WER = 100 * (S + D + I) / N`` over the whole set.

    Example:
        >>> r = word_error_rate([["A", "B", "C"]], [["A", "X"]])
        >>> r.wer, r.substitutions, r.deletions, r.insertions
        (66.66666666666667, 1, 1, 0)
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("nothing to score: no references")
    refs = [" ".join(r) for r in references]
    hyps = [" ".join(h) for h in hypotheses]
    if any(not r for r in refs):
        raise ValueError("every reference needs at least one gloss")
    s, d, i, n = _counts(refs, hyps)
    ser = 100.0 * sum(r != h for r, h in zip(refs, hyps)) / len(refs)
    per_signer: dict[str, float] = {}
    if signers is not None and any(sg is not None for sg in signers):
        groups: dict[str, list[int]] = defaultdict(list)
        for k, sg in enumerate(signers):
            groups[str(sg)].append(k)
        for sg, idx in sorted(groups.items()):
            gs, gd, gi, gn = _counts([refs[k] for k in idx], [hyps[k] for k in idx])
            per_signer[sg] = 100.0 * (gs + gd + gi) / gn
    return WerResult(100.0 * (s + d + i) / n, s, d, i, n, len(refs), ser, per_signer)
