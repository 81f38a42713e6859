"""Decode per-utterance log-probs to glosses: greedy, or beam search when a decoder config is given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from signdistill.decoding.collapse import collapse_ids

if TYPE_CHECKING:
    import torch

    from signdistill.decoding.beam import DecoderConfig


def decode_log_probs(
    log_probs: Sequence[np.ndarray], tokens: Sequence[str], decoder: DecoderConfig | None, *, processes: int = 1
) -> list[list[str]]:
    """Greedy (``decoder`` None) or beam search over per-utterance log-probs ``(T, V)`` (numpy, no torch).

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
    if decoder is None:
        return [[tokens[i] for i in collapse_ids(np.asarray(lp).argmax(-1).tolist())] for lp in log_probs]
    from signdistill.decoding.beam import BeamSearchDecoder

    beam = BeamSearchDecoder(tokens, decoder)
    return beam.decode([np.asarray(lp, dtype=np.float32) for lp in log_probs], processes=processes)


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
