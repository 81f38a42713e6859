"""Is one model really better than another? Paired bootstrap intervals over utterances and seeds.

A WER difference between two systems has two sources of noise: which utterances happen
to be in the test set, and which seed each model was trained with. :func:`paired_difference`
resamples both, the way Koehn (2004, "Statistical significance tests for machine
translation evaluation") and Bisani & Ney (2004, "Bootstrap estimates for confidence
intervals in ASR performance evaluation") resample test utterances, with a second level
over seeds (a hierarchical bootstrap):

1. Per seed ``s`` both systems were scored on the same utterances: errors ``e_a[s, u]``,
   ``e_b[s, u]`` (sclite-weighted alignment, S + D + I) and reference lengths ``n[u]``.
2. One bootstrap replicate draws the seeds with replacement (``S`` of ``S``) and, once,
   the utterances with replacement (``U`` of ``U``; the test set is shared by every seed,
   so its sampling noise is too), and computes the mean over drawn seeds of
   ``100 * (sum_u e_a[s, u] - sum_u e_b[s, u]) / sum_u n[u]``.
3. The interval is the 2.5 and 97.5 percentiles of the replicates (95 %); the point
   estimate is the mean paired difference on the data as observed.

With one seed the interval covers test-set noise only (training noise is unmeasured);
with 2-3 seeds the seed level is coarse and tends to be narrow. Use 5 seeds for claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from signdistill.evaluation.wer import align_counts

HELPS, HURTS, WITHIN_NOISE = "helps", "hurts", "within noise"


@dataclass(frozen=True)
class PairedDifference:
    """WER(a) - WER(b) in points, averaged over seeds, with a bootstrap interval.

    Negative means ``a`` makes fewer errors than ``b``.
    """

    mean: float
    ci_low: float
    ci_high: float
    seeds: int
    utterances: int
    level: float = 0.95
    replicates: int = 0

    @property
    def verdict(self) -> str:
        """``helps`` when the whole interval lies below 0, ``hurts`` above 0, else ``within noise``."""
        return verdict(self.ci_low, self.ci_high)

    def to_dict(self) -> dict[str, float | int | str]:
        return {**asdict(self), "verdict": self.verdict}


def verdict(ci_low: float, ci_high: float) -> str:
    """Read an interval of ``a - b`` (lower is better): helps / hurts / within noise."""
    if ci_high < 0:
        return HELPS
    if ci_low > 0:
        return HURTS
    return WITHIN_NOISE


def utterance_errors(references: Sequence[Sequence[str]], hypotheses: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-utterance errors (S + D + I, sclite costs) and reference lengths, as int arrays ``(U,)``."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    errs = np.array([sum(align_counts(list(r), list(h))) for r, h in zip(references, hypotheses)], dtype=np.int64)
    lens = np.array([len(r) for r in references], dtype=np.int64)
    return errs, lens


def paired_difference(
    errors_a: Sequence[np.ndarray] | np.ndarray,
    errors_b: Sequence[np.ndarray] | np.ndarray,
    ref_lengths: np.ndarray,
    *,
    replicates: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Mean over seeds of WER(a) - WER(b), with a hierarchical paired bootstrap interval.

    Args:
        errors_a: per seed, per-utterance error counts of system ``a``: ``(S, U)``.
        errors_b: the same for system ``b``, seed ``s`` paired with ``a``'s seed ``s``.
        ref_lengths: reference glosses per utterance ``(U,)`` (the same test set for every seed).
        replicates: bootstrap replicates.
        level: two-sided interval level (0.95 -> 2.5th and 97.5th percentiles).
        seed: seed of the resampling (the result is deterministic for a given seed).

    Example:
        >>> import numpy as np
        >>> a = np.array([[0, 1, 0, 0]]); b = np.array([[1, 1, 1, 1]]); n = np.array([2, 2, 2, 2])
        >>> round(paired_difference(a, b, n).mean, 1)
        -37.5
    """
    a = np.asarray(errors_a, dtype=np.float64)
    b = np.asarray(errors_b, dtype=np.float64)
    n = np.asarray(ref_lengths, dtype=np.float64)
    if a.ndim == 1:
        a, b = a[None], b[None]
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != n.shape[0]:
        raise ValueError(f"shapes do not pair: a {a.shape}, b {b.shape}, lengths {n.shape}; need (seeds, utterances) and (utterances,)")
    if a.shape[1] == 0 or n.sum() <= 0:
        raise ValueError("nothing to compare: no utterances with reference glosses")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n_seeds, n_utts = a.shape
    d = a - b  # (S, U) paired error differences
    point = float(100.0 * d.sum(axis=1).mean() / n.sum())
    rng = np.random.default_rng(seed)
    stats = np.empty(replicates)
    for k in range(replicates):
        u = rng.integers(0, n_utts, n_utts)
        s = rng.integers(0, n_seeds, n_seeds)
        stats[k] = 100.0 * d[np.ix_(s, u)].sum(axis=1).mean() / n[u].sum()
    tail = 100.0 * (1 - level) / 2
    lo, hi = np.percentile(stats, [tail, 100.0 - tail]) if replicates > 0 else (point, point)
    return PairedDifference(point, float(lo), float(hi), n_seeds, n_utts, level, replicates)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
