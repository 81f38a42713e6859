"""Glosses with the frames they cover and a confidence: greedy runs and Viterbi forced alignment (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signdistill.decoding.hypothesis import greedy_hypothesis


@dataclass(frozen=True)
class GlossSegment:
    """One output gloss: ``start`` (first frame), ``end`` (one past the last), mean posterior."""

    gloss: str
    start: int
    end: int
    confidence: float


@dataclass(frozen=True)
class Transcript:
    """The output for one input: its id, its glosses with frames, and its length in frames."""

    id: str
    path: Path
    segments: list[GlossSegment]
    frames: int

    @property
    def glosses(self) -> list[str]:
        return [s.gloss for s in self.segments]


def _segment(log_probs: np.ndarray, label: int, frames: np.ndarray, tokens: Sequence[str]) -> GlossSegment:
    conf = float(np.exp(log_probs[frames, label]).mean())
    return GlossSegment(tokens[label], int(frames[0]), int(frames[-1]) + 1, conf)


def greedy_segments(log_probs: np.ndarray, tokens: Sequence[str], *, blank: int = 0) -> list[GlossSegment]:
    """Greedy CTC decoding of ``log_probs (T, V)`` with each gloss's run of argmax frames."""
    hyp = greedy_hypothesis(log_probs, tokens, blank=blank)
    return [_segment(log_probs, k, np.arange(start, end), tokens) for k, (start, end) in zip(hyp.tokens, hyp.frames)]


def aligned_segments(log_probs: np.ndarray, labels: Sequence[int], tokens: Sequence[str], *, blank: int = 0) -> list[GlossSegment]:
    """Viterbi forced alignment of the label sequence ``labels`` to ``log_probs (T, V)``.

    Returns one segment per label: the frames the best CTC path through ``labels`` gives it.
    For the greedy transcript this is the greedy path (the best path overall).
    """
    if not labels:
        return []
    lab = np.asarray(labels, dtype=np.int64)
    states = np.full(2 * len(lab) + 1, blank, dtype=np.int64)  # blank, l1, blank, l2, ..., blank
    states[1::2] = lab
    emit = log_probs[:, states]  # (T, S)
    n_frames, n_states = emit.shape
    skip = np.zeros(n_states, dtype=bool)  # a label state may be entered from the previous label
    skip[3::2] = lab[1:] != lab[:-1]
    neg = np.full(2, -np.inf)
    score = np.full(n_states, -np.inf)
    score[:2] = emit[0, :2]
    back = np.zeros((n_frames, n_states), dtype=np.int8)  # 0: stay, 1: from s-1, 2: from s-2
    for t in range(1, n_frames):
        cand = np.stack([score, np.concatenate([neg[:1], score[:-1]]), np.where(skip, np.concatenate([neg, score[:-2]]), -np.inf)])
        back[t] = cand.argmax(0)
        score = cand.max(0) + emit[t]
    end = n_states - 1 if score[-1] >= score[-2] else n_states - 2
    if not np.isfinite(score[end]):  # more labels than frames allow: spread them evenly
        edges = np.linspace(0, n_frames, len(lab) + 1).astype(int)
        return [GlossSegment(tokens[k], int(a), int(max(b, a + 1)), 0.0) for k, a, b in zip(lab, edges[:-1], edges[1:])]
    path = np.empty(n_frames, dtype=np.int64)
    s = end
    for t in range(n_frames - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])
    return [_segment(log_probs, int(k), np.flatnonzero(path == 2 * i + 1), tokens) for i, k in enumerate(lab)]
