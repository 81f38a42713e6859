"""Decode per-utterance logits to glosses: greedy, or beam search when a decoder config is given."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from signdistill.decoding.greedy import greedy_decode

if TYPE_CHECKING:
    from signdistill.decoding.beam import DecoderConfig


def decode_logits(logits: list[torch.Tensor], tokens: list[str], decoder: DecoderConfig | None, *, processes: int = 1) -> list[list[str]]:
    """Greedy (``decoder`` None) or beam search over per-utterance logits ``(T, V)``.

    Args:
        logits: one ``(T, V)`` tensor per utterance (scores or log-probabilities).
        tokens: the vocabulary, index -> gloss (blank at 0).
        decoder: beam-search settings, or ``None`` for greedy best-path decoding.
        processes: worker processes for the beam search.

    Returns:
        Gloss lists, one per utterance.
    """
    if decoder is None:
        out = []
        for lg in logits:
            ids = greedy_decode(lg.unsqueeze(0), torch.tensor([lg.shape[0]]))[0]
            out.append([tokens[i] for i in ids])
        return out
    from signdistill.decoding.beam import BeamSearchDecoder

    beam = BeamSearchDecoder(tokens, decoder)
    return beam.decode([torch.log_softmax(lg.float(), -1).numpy() for lg in logits], processes=processes)
