"""Decode per-utterance log-probs to glosses: greedy, or beam search when a decoder config is given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from signdistill.decoding.hypothesis import CTCHypothesis, greedy_hypothesis

if TYPE_CHECKING:
    import torch

    from signdistill.decoding.beam import DecoderConfig


def decode_hypotheses(
    log_probs: Sequence[np.ndarray], tokens: Sequence[str], decoder: DecoderConfig | None, *, processes: int = 1
) -> list[CTCHypothesis]:
    """Greedy (``decoder`` None) or beam search over per-utterance log-probs ``(T, V)`` (numpy, no torch).

    Args:
        log_probs: one ``(T, V)`` array per utterance (greedy takes any scores; beam search
            needs log-probabilities).
        tokens: the vocabulary, index -> gloss (blank at 0).
        decoder: beam-search settings, or ``None`` for greedy best-path decoding.
        processes: worker processes for the beam search.

    Returns:
        One :class:`~signdistill.decoding.hypothesis.CTCHypothesis` per utterance (label ids,
        glosses, score, frame span per gloss).

    Example:
        >>> decode_hypotheses([np.log([[0.1, 0.9], [0.9, 0.1]])], ["-", "A"], None)[0].frames
        ((0, 1),)
    """
    if decoder is None:
        return [greedy_hypothesis(lp, tokens) for lp in log_probs]
    from signdistill.decoding.beam import BeamSearchDecoder

    beam = BeamSearchDecoder(tokens, decoder)
    return beam.decode([np.asarray(lp, dtype=np.float32) for lp in log_probs], processes=processes)


def decode_log_probs(
    log_probs: Sequence[np.ndarray], tokens: Sequence[str], decoder: DecoderConfig | None, *, processes: int = 1
) -> list[list[str]]:
    """The glosses of :func:`decode_hypotheses`: greedy (``decoder`` None) or beam search over
    per-utterance log-probs ``(T, V)`` (numpy, no torch).

    Args:
        log_probs: one ``(T, V)`` array per utterance (greedy takes any scores; beam search
            needs log-probabilities).
        tokens: the vocabulary, index -> gloss (blank at 0).
        decoder: beam-search settings, or ``None`` for greedy best-path decoding.
        processes: worker processes for the beam search.

    Returns:
        Gloss lists, one per utterance.

    Example:
        >>> decode_log_probs([np.log([[0.1, 0.9], [0.9, 0.1]])], ["-", "A"], None)
        [['A']]
    """
    return [list(hyp.words) for hyp in decode_hypotheses(log_probs, tokens, decoder, processes=processes)]


def decode_logits(logits: list[torch.Tensor], tokens: list[str], decoder: DecoderConfig | None, *, processes: int = 1) -> list[list[str]]:
    """:func:`decode_log_probs` over per-utterance logits ``(T, V)`` (torch tensors, log-softmaxed for beam search).

    Args:
        logits: one ``(T, V)`` tensor per utterance (scores or log-probabilities).
        tokens: the vocabulary, index -> gloss (blank at 0).
        decoder: beam-search settings, or ``None`` for greedy best-path decoding.
        processes: worker processes for the beam search.

    Returns:
        Gloss lists, one per utterance.
    """
    import torch

    if decoder is None:
        return decode_log_probs([lg.float().cpu().numpy() for lg in logits], tokens, None)
    return decode_log_probs([torch.log_softmax(lg.float(), -1).numpy() for lg in logits], tokens, decoder, processes=processes)
