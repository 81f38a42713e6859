"""The conventions every loss in :mod:`signdistill.losses` shares, and CTC itself, which the others build on.

Losses take padded ``(B, T, V)`` tensors plus ``lengths``, mask padded frames exactly (their content
never changes the result), compute in float32 even under autocast, accept ``T = 1`` and utterances of
length 0, and state their reduction. The helpers here are those conventions, written once; torch only.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F

Reduction = Literal["mean", "sum", "none"]
BlankMode = Literal["keep", "drop", "downweight"]


@contextmanager
def _float32(*tensors: torch.Tensor):
    """Disable autocast so the loss is computed in float32 whatever the caller's context."""
    device_type = tensors[0].device.type if tensors else "cpu"
    with torch.autocast(device_type=device_type, enabled=False):
        yield


def frame_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``(B, T)`` bool mask, True on the first ``lengths[b]`` frames of row b."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def _check(logits: torch.Tensor, lengths: torch.Tensor, name: str) -> None:
    if logits.dim() != 3:
        raise ValueError(f"{name} must be (batch, time, classes); got shape {tuple(logits.shape)}")
    if lengths.dim() != 1 or lengths.shape[0] != logits.shape[0]:
        raise ValueError(f"lengths must be (batch,) = ({logits.shape[0]},); got {tuple(lengths.shape)}")
    if lengths.numel() and (int(lengths.max()) > logits.shape[1] or int(lengths.min()) < 0):
        raise ValueError(f"lengths must lie in [0, {logits.shape[1]}]; got {lengths.tolist()}")


def _reduce(per_frame: torch.Tensor, mask: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    per_frame = per_frame.masked_fill(~mask, 0.0)
    if reduction == "none":
        return per_frame
    total = per_frame.sum()
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / mask.sum().clamp(min=1)
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")


def ctc_loss(
    logits: torch.Tensor,
    lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    *,
    blank: int = 0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""CTC (Graves et al., 2006) over batch-first logits, in float32.

    ``reduction="mean"`` divides each utterance's negative log-likelihood by its target
    length, then averages over the batch (PyTorch's convention); ``"sum"`` adds the
    per-utterance losses; ``"none"`` returns ``(B,)``. Impossible alignments (fewer
    frames than the transcript needs, or a length-0 utterance) contribute 0 instead of inf.

    Args:
        logits: ``(B, T, V)`` (log-softmax is applied here).
        lengths: ``(B,)``.
        targets: concatenated ``(sum(target_lengths),)`` or padded ``(B, S)``.
    """
    _check(logits, lengths, "logits")
    with _float32(logits):
        log_probs = torch.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # (T, B, V)
        return F.ctc_loss(
            log_probs,
            targets,
            lengths,
            target_lengths,
            blank=blank,
            reduction=reduction,
            zero_infinity=True,
        )


def weighted_ctc_loss(
    logits: torch.Tensor,
    lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    weights: torch.Tensor,
    *,
    blank: int = 0,
) -> torch.Tensor:
    """CTC with a weight per utterance: ``sum_b w_b * NLL_b / max(1, |y_b|) / B``.

    With every weight 1 this is :func:`ctc_loss`'s ``"mean"``; an utterance of weight 0 (an
    unlabeled one without a pseudo-label) contributes nothing, whatever its targets.

    Args:
        weights: ``(B,)`` float, >= 0.
    """
    per = ctc_loss(logits, lengths, targets, target_lengths, blank=blank, reduction="none")  # (B,)
    per = per / target_lengths.clamp(min=1).to(per.dtype)
    w = weights.to(per.dtype)
    return torch.where(w > 0, per * w, torch.zeros_like(per)).sum() / max(len(per), 1)
