"""Word (gloss) error rate with its breakdown, aligned as NIST sclite aligns.

jiwer (unit costs) gives the same error total in most cases but splits it into S/D/I
differently from sclite; signdistill aligns with sclite's weights so the breakdown agrees
with the scorer the PHOENIX literature uses (tested against ``sctk sclite``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field


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


# NIST sclite's alignment costs: a substitution costs 4, a deletion or insertion 3, so S/D/I
# counts (not only their total) match the scorer behind published PHOENIX numbers.
COST_SUB, COST_DEL, COST_INS = 4, 3, 3


def align_counts(ref: Sequence[Hashable], hyp: Sequence[Hashable]) -> tuple[int, int, int]:
    """(substitutions, deletions, insertions) of the minimum-cost alignment, sclite-weighted."""
    n, m = len(ref), len(hyp)
    # cost[i][j], with back-pointers; ties prefer match/substitution, then deletion, then insertion.
    prev = [j * COST_INS for j in range(m + 1)]
    back = [[2] * (m + 1)]  # 0 diag, 1 del, 2 ins
    for i in range(1, n + 1):
        cur = [i * COST_DEL] + [0] * m
        row = [1] + [0] * m
        for j in range(1, m + 1):
            diag = prev[j - 1] + (0 if ref[i - 1] == hyp[j - 1] else COST_SUB)
            dele = prev[j] + COST_DEL
            ins = cur[j - 1] + COST_INS
            best = min(diag, dele, ins)
            cur[j] = best
            row[j] = 0 if diag == best else (1 if dele == best else 2)
        back.append(row)
        prev = cur
    s = d = ins_n = 0
    i, j = n, m
    while i > 0 or j > 0:
        op = back[i][j] if i > 0 and j > 0 else (1 if i > 0 else 2)
        if op == 0:
            s += ref[i - 1] != hyp[j - 1]
            i, j = i - 1, j - 1
        elif op == 1:
            d += 1
            i -= 1
        else:
            ins_n += 1
            j -= 1
    return s, d, ins_n


def _counts(refs: list[str], hyps: list[str]) -> tuple[int, int, int, int]:
    s = d = i = n = 0
    for r, h in zip(refs, hyps):
        rs, hs = r.split(), h.split()
        a, b, c = align_counts(rs, hs)
        s, d, i, n = s + a, d + b, i + c, n + len(rs)
    return s, d, i, n


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


def jiwer_wer(references: Sequence[Sequence[str]], hypotheses: Sequence[Sequence[str]]) -> float:
    """WER in percent as jiwer computes it (Levenshtein with unit costs), with jiwer itself.

    jiwer minimizes the number of edits; sclite (and :func:`word_error_rate`) minimizes
    4 x substitutions + 3 x (deletions + insertions). Both count S + D + I of their own
    alignment, so jiwer's figure is never higher, and they differ only on utterances where
    the cheapest weighted alignment is not a shortest one. Hugging Face ``evaluate`` and most
    ASR papers report jiwer's; PHOENIX-style papers report sclite's.
    """
    import jiwer

    refs = [" ".join(r) for r in references]
    hyps = [" ".join(h) for h in hypotheses]
    out = jiwer.process_words(refs, hyps)
    return 100.0 * float(out.wer)
