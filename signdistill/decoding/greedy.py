"""Greedy (best-path) CTC decoding, vectorized over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from signdistill.decoding.collapse import collapse_ids

__all__ = ["collapse_ids", "greedy_decode"]


def greedy_decode(logits: torch.Tensor, lengths: torch.Tensor, *, blank: int = 0) -> list[list[int]]:
    """Best path: argmax per frame, merge repeats, drop blanks (:func:`collapse_ids`, vectorized).

    Args:
        logits: ``(B, T, V)`` scores or log-probabilities (only the argmax matters).
        lengths: ``(B,)`` valid frames; frames beyond are ignored.

    Returns:
        One list of label ids per utterance (empty for length 0 or all-blank output).

    Example:
        >>> x = torch.tensor([[[0., 1, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]])
        >>> greedy_decode(x, torch.tensor([5]))
        [[1, 1, 2]]
    """
    if logits.dim() != 3:
        raise ValueError(f"logits must be (batch, time, classes); got {tuple(logits.shape)}")
    best = logits.argmax(-1)  # (B, T)
    prev = F.pad(best[:, :-1], (1, 0), value=-1)
    valid = torch.arange(best.shape[1], device=best.device).unsqueeze(0) < lengths.to(best.device).unsqueeze(1)
    keep = (best != blank) & (best != prev) & valid
    best, keep = best.cpu(), keep.cpu()
    return [best[b][keep[b]].tolist() for b in range(best.shape[0])]
