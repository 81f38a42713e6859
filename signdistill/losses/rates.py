"""Bring a teacher's frame-level outputs to the student's frame rate.

Teachers from other code bases rarely share the student's frame rate: CSLR video networks
pool time by 4 (two K5-P2 blocks), a keypoint student may run at the input rate, or
subsample itself. :func:`resample_frames` maps ``(B, T', C)`` frames onto ``T`` frames per
utterance by *area averaging*: student frame ``t`` of an utterance with ``L`` frames covers
the time span ``[t, t + 1) * L' / L`` in teacher frames, and gets the average of the teacher
frames over that span, each weighted by its overlap. Upsampling (a stride-4 teacher, a
stride-1 student) repeats each teacher frame over the four student frames it spans (two
frames share a boundary frame where the spans straddle); downsampling averages the frames a
student frame covers. The same rule works for any ratio, also a non-integer one, and equal
lengths give the input back unchanged (bit for bit).

:func:`resample_log_probs` applies it to posteriors in probability space (averaging
probabilities, not log-probabilities, so each output frame is again a distribution) and
returns log-probabilities. Hidden states (FitNets) are averaged as they are.
"""

from __future__ import annotations

import torch


def _check(x: torch.Tensor, lengths: torch.Tensor, target_lengths: torch.Tensor) -> None:
    if x.dim() != 3:
        raise ValueError(f"frames must be (batch, time, channels); got {tuple(x.shape)}")
    if lengths.shape != (x.shape[0],) or target_lengths.shape != (x.shape[0],):
        raise ValueError(
            f"lengths and target_lengths must be ({x.shape[0]},); got {tuple(lengths.shape)} and {tuple(target_lengths.shape)}"
        )
    if bool((lengths < 1).any()) or bool((target_lengths < 1).any()):
        raise ValueError("every utterance needs at least one frame at both rates")
    if int(lengths.max()) > x.shape[1]:
        raise ValueError(f"a length ({int(lengths.max())}) exceeds the {x.shape[1]} frames given")


def overlap_weights(lengths: torch.Tensor, target_lengths: torch.Tensor, source_frames: int, target_frames: int) -> torch.Tensor:
    """``(B, T, T')`` weights: row ``t`` is how much of target frame ``t``'s span each source frame covers, summing to 1.

    Rows of padded target frames are zero; columns of padded source frames are zero.
    """
    dtype = torch.float64
    lens = lengths.to(dtype)[:, None, None]  # (B, 1, 1)
    tlens = target_lengths.to(dtype)[:, None, None]
    t = torch.arange(target_frames, dtype=dtype, device=lengths.device)[None, :, None]  # (1, T, 1)
    s = torch.arange(source_frames, dtype=dtype, device=lengths.device)[None, None, :]  # (1, 1, T')
    start, end = t * lens / tlens, (t + 1) * lens / tlens  # the target frame's span, in source frames
    overlap = (torch.minimum(end, s + 1) - torch.maximum(start, s)).clamp(min=0)  # (B, T, T')
    overlap = overlap * (s < lens) * (t < tlens)
    return overlap / overlap.sum(-1, keepdim=True).clamp(min=1e-12)


def resample_frames(x: torch.Tensor, lengths: torch.Tensor, target_lengths: torch.Tensor, target_frames: int | None = None) -> torch.Tensor:
    """Area-average ``x`` ``(B, T', C)`` with ``lengths`` onto ``target_lengths`` frames: ``(B, T, C)``.

    ``T`` is ``target_frames`` or ``max(target_lengths)``; frames past a target length are 0.
    When every length equals its target length and ``T == T'``, ``x`` is returned unchanged.

    Example:
        >>> x = torch.tensor([[[1.0], [3.0]]])  # one utterance, 2 frames
        >>> resample_frames(x, torch.tensor([2]), torch.tensor([4]))[0, :, 0].tolist()
        [1.0, 1.0, 3.0, 3.0]
    """
    _check(x, lengths, target_lengths)
    frames = int(target_frames if target_frames is not None else target_lengths.max())
    if frames == x.shape[1] and torch.equal(lengths, target_lengths):
        return x
    w = overlap_weights(lengths.to(x.device), target_lengths.to(x.device), x.shape[1], frames)  # (B, T, T')
    return torch.bmm(w.to(x.dtype) if x.dtype != torch.float64 else w, x)


def resample_log_probs(
    log_probs: torch.Tensor, lengths: torch.Tensor, target_lengths: torch.Tensor, target_frames: int | None = None
) -> torch.Tensor:
    """Posteriors at another frame rate: area-averaged probabilities, renormalized, as log-probabilities.

    Args:
        log_probs: ``(B, T', V)`` log-probabilities (e.g. a teacher's at its own rate).
        lengths: ``(B,)`` valid frames of ``log_probs``.
        target_lengths: ``(B,)`` the student's frames per utterance.
        target_frames: padded length of the result (default ``max(target_lengths)``).

    Returns:
        ``(B, T, V)`` log-probabilities; padded frames hold a uniform distribution. Equal lengths
        return ``log_probs`` unchanged.
    """
    _check(log_probs, lengths, target_lengths)
    frames = int(target_frames if target_frames is not None else target_lengths.max())
    if frames == log_probs.shape[1] and torch.equal(lengths, target_lengths):
        return log_probs
    probs = resample_frames(log_probs.double().exp(), lengths, target_lengths, frames)  # (B, T, V)
    probs = probs / probs.sum(-1, keepdim=True).clamp(min=1e-300)
    out = probs.clamp(min=1e-30).log()
    pad = torch.arange(frames, device=out.device)[None, :] >= target_lengths.to(out.device)[:, None]
    out = out.masked_fill(pad[..., None], -float(torch.log(torch.tensor(float(out.shape[-1])))))
    return out.to(log_probs.dtype)
