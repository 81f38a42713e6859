"""The typed result of decoding one utterance, and how a frame path becomes one (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CTCHypothesis:
    """One decoded utterance, as torchaudio's ``CTCHypothesis`` (with a frame span per gloss).

    Attributes:
        tokens: the label ids of the glosses, ``(N,)`` (never the blank).
        words: the glosses, ``tokens`` read through the vocabulary, ``(N,)``.
        score: the decoder's total score of the hypothesis, natural log. Greedy: the sum over
            frames of the best label's score (a log-probability when the inputs are
            log-probabilities). pyctcdecode: its combined score (acoustic log-probability
            summed over the paths of the prefix, plus ``alpha * ln 10 * log10 P_LM`` and
            ``beta`` per gloss, plus hotword bonuses). flashlight: its score (the best path's
            acoustic log-probability plus ``alpha * ln 10 * log10 P_LM``).
        frames: per gloss ``(start, end)`` in output frames, end exclusive, in order and not
            overlapping: the run of frames the decoded path emits the gloss on. pyctcdecode
            reports the path it kept when it merged the paths of a prefix, which need not be
            the most probable one; ``signdistill.transcribe`` aligns glosses by Viterbi instead.

    Example:
        >>> hyp = greedy_hypothesis(np.log([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1]]), ["-", "A"])
        >>> hyp.words, hyp.frames
        (('A',), ((0, 2),))
    """

    tokens: tuple[int, ...]
    words: tuple[str, ...]
    score: float
    frames: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not len(self.tokens) == len(self.words) == len(self.frames):
            raise ValueError(
                f"A hypothesis needs one word and one frame span per token; got {len(self.tokens)} tokens, "
                f"{len(self.words)} words and {len(self.frames)} spans."
            )

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": list(self.tokens), "words": list(self.words), "score": self.score, "frames": [list(f) for f in self.frames]}


def empty_hypothesis(score: float = 0.0) -> CTCHypothesis:
    """No glosses (an utterance of zero frames scores 0: the log-probability of nothing over nothing)."""
    return CTCHypothesis((), (), score, ())


def hypothesis_from_path(path: Sequence[int] | np.ndarray, tokens: Sequence[str], score: float, *, blank: int = 0) -> CTCHypothesis:
    """The hypothesis a frame path ``(T,)`` spells: the CTC collapse (merge repeats, drop blanks),
    each gloss with the run of frames it fills."""
    p = np.asarray(path, dtype=np.int64)
    if p.size == 0:
        return empty_hypothesis(float(score))
    change = np.flatnonzero(p[1:] != p[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [p.size]))
    keep = p[starts] != blank
    ids = p[starts][keep].tolist()
    spans = tuple(zip(starts[keep].tolist(), ends[keep].tolist()))
    return CTCHypothesis(tuple(ids), tuple(tokens[i] for i in ids), float(score), spans)


def greedy_hypothesis(log_probs: np.ndarray, tokens: Sequence[str], *, blank: int = 0) -> CTCHypothesis:
    """Greedy (best-path) decoding of one utterance ``(T, V)``; its score is the sum of the
    per-frame maxima (accumulated in float64)."""
    lp = np.asarray(log_probs)
    if lp.ndim != 2:
        raise ValueError(f"log_probs must be (T, V); got {lp.shape}")
    return hypothesis_from_path(lp.argmax(-1), tokens, float(lp.max(-1).sum(dtype=np.float64)), blank=blank)
