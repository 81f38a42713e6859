"""CTC-aware distillation losses: factorized (blank/gloss) KD, shift-tolerant frame KL and
sequence-level KD sampled from the teacher (docs/distillation.md says what each measured).

Pure functions over padded ``(B, T, V)`` tensors plus ``lengths`` (see
:mod:`signdistill.losses.common` for the conventions); torch only.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from signdistill.losses.common import Reduction, _check, _float32, _reduce, ctc_loss, frame_mask


def _check_pair(student_logits: torch.Tensor, teacher_logits: torch.Tensor, lengths: torch.Tensor, temperature: float) -> None:
    """The checks every loss here shares: shapes, lengths and a positive temperature."""
    _check(student_logits, lengths, "student_logits")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher {tuple(teacher_logits.shape)} and student {tuple(student_logits.shape)} shapes differ")


def _binary_and_gloss(log_probs: torch.Tensor, blank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split ``(..., V)`` log-posteriors into ``log P(blank)``, ``log P(not blank)`` and the
    gloss distribution given "not blank" (``(..., V-1)``, renormalized)."""
    keep = torch.ones(log_probs.shape[-1], dtype=torch.bool, device=log_probs.device)
    keep[blank] = False
    log_blank = log_probs[..., blank]
    log_gloss_mass = torch.logsumexp(log_probs[..., keep], dim=-1)
    gloss = log_probs[..., keep] - log_gloss_mass.unsqueeze(-1)
    return log_blank, log_gloss_mass, gloss


def factorized_kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    lengths: torch.Tensor,
    temperature: float = 1.0,
    *,
    blank: int = 0,
    binary_weight: float = 1.0,
    gloss_weight: float = 1.0,
    gloss_frames: Literal["all", "teacher"] = "all",
    scale_by_t2: bool = True,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Factorized KD for CTC (after Tian et al., 2024, "Factorized and progressive knowledge
    distillation for CTC-based ASR models"): blank and glosses distilled separately.

    The frame KL splits exactly (chain rule) into a binary blank/not-blank term and the
    gloss term, weighted by the teacher's not-blank mass ``m_t = 1 - p_T(blank)``::

        KL(p_T || q_T) = KL([p_b, m] || [q_b, 1 - q_b]) + m * KL(p^g || q^g)

    where ``p^g, q^g`` are the distributions over glosses given "not blank". On the
    blank-dominated frames of CTC ``m ~ 0`` and the gloss term vanishes: the student hears
    almost nothing about which gloss the teacher confuses with which. Here::

        loss_t = T^2 * (binary_weight * KL_binary + gloss_weight * w_t * KL(p^g || q^g))

    with ``w_t = 1`` on every frame (``gloss_frames="all"``) or ``w_t = m`` (``"teacher"``,
    which with both weights 1 is plain frame KD, a property the tests check).

    Args:
        student_logits: ``(B, T, V)``.
        teacher_logits: ``(B, T, V)``, a constant (no gradient).
        lengths: ``(B,)``; padded frames are ignored exactly.
        reduction: ``"mean"`` over valid frames, ``"sum"``, or ``"none"`` for ``(B, T)``.
    """
    _check_pair(student_logits, teacher_logits, lengths, temperature)
    with _float32(student_logits):
        s_lp = torch.log_softmax(student_logits.float() / temperature, -1)
        t_lp = torch.log_softmax(teacher_logits.detach().float() / temperature, -1)
        sb, sm, sg = _binary_and_gloss(s_lp, blank)
        tb, tm, tg = _binary_and_gloss(t_lp, blank)
        binary = tb.exp() * (tb - sb) + tm.exp() * (tm - sm)
        gloss = (tg.exp() * (tg - sg)).sum(-1)
        if gloss_frames == "teacher":
            gloss = gloss * tm.exp()
        elif gloss_frames != "all":
            raise ValueError(f"gloss_frames must be 'all' or 'teacher'; got {gloss_frames!r}")
        per_frame = binary_weight * binary + gloss_weight * gloss
        if scale_by_t2:
            per_frame = per_frame * temperature**2
        return _reduce(per_frame, frame_mask(lengths, per_frame.shape[1]), reduction)


def shift_tolerant_kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    lengths: torch.Tensor,
    temperature: float = 1.0,
    *,
    shift: int = 2,
    scale_by_t2: bool = True,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Frame KD that tolerates spike timing: each student frame learns from the teacher
    frame within ``+-shift`` frames that it already matches best::

        loss_t = T^2 * min_{|t' - t| <= shift, t' valid} KL(p_T(t') || q_T(t))

    Two CTC models of different size rarely fire their spikes at the same frame; plain
    frame KD then pulls the student's gloss spike towards blank at its own frame and
    towards the gloss a few frames away, against its own CTC alignment. Here the
    teacher's distribution at its spike is taught at the student's spike when the two
    lie within ``shift`` frames, and the student's timing stays its own. ``shift=0`` is
    plain frame KD (blank kept). The minimum's choice is a constant (no gradient through
    the selection).

    Measured, it *hurts* (docs/distillation.md): the minimum is one-sided. CTC teachers are
    blank on most frames, so a blank student frame always finds a blank teacher frame in its
    window: a gloss the student misses is never taught, and a weak gloss spike at the right
    frame can be pushed towards blank (a review constructed both cases). A two-sided
    (Chamfer) version, which also matches every teacher spike to its best student frame, is
    the untested next step. Memory is ``(B, T, 2 * shift + 1, V)``: keep ``shift`` small.

    Args:
        student_logits: ``(B, T, V)``.
        teacher_logits: ``(B, T, V)``, a constant (no gradient).
        lengths: ``(B,)``; padded frames are neither scored nor used as teacher frames.
        shift: ``>= 0`` frames of tolerance either side.
        reduction: ``"mean"`` over valid frames, ``"sum"``, or ``"none"`` for ``(B, T)``.
    """
    _check_pair(student_logits, teacher_logits, lengths, temperature)
    if shift < 0:
        raise ValueError(f"shift must be >= 0 frames; got {shift}")
    b, t_max, _ = student_logits.shape
    if b == 0 or t_max == 0:
        return student_logits.float().sum() * 0.0
    with _float32(student_logits):
        s_lp = torch.log_softmax(student_logits.float() / temperature, -1)
        t_lp = torch.log_softmax(teacher_logits.detach().float() / temperature, -1)
        mask = frame_mask(lengths, t_max)
        # Teacher frames t + d for d in [-shift, shift]: (B, T, W, V), invalid ones marked.
        pad = F.pad(t_lp, (0, 0, shift, shift))
        windows = pad.unfold(1, 2 * shift + 1, 1).permute(0, 1, 3, 2)
        valid = F.pad(mask, (shift, shift)).unfold(1, 2 * shift + 1, 1)  # (B, T, W)
        p = windows.exp()
        kl = (p * windows).sum(-1) - torch.einsum("btwv,btv->btw", p, s_lp)  # (B, T, W)
        best = kl.detach().masked_fill(~valid, float("inf")).argmin(-1, keepdim=True)
        per_frame = kl.gather(-1, best).squeeze(-1)
        if scale_by_t2:
            per_frame = per_frame * temperature**2
        return _reduce(per_frame, mask, reduction)


def sampled_sequence_kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    lengths: torch.Tensor,
    *,
    num_samples: int = 4,
    temperature: float = 1.0,
    blank: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Sequence-level KD for CTC by sampling from the teacher (Kim & Rush 2016's objective,
    estimated without a beam search):

        loss = E_{y ~ P_T(y | x)} [ -log P_S(y | x) / |y| ]  ~  1/N sum_n CTC(student, y_n)

    A CTC model's frame outputs are independent given the input, so drawing one label per
    frame from ``softmax(z_teacher / T)`` and collapsing the path (repeats merged, blanks
    removed) draws a transcript ``y_n`` from the teacher's *sequence* posterior ``P_T(y|x)``,
    the sum over all its alignments. The student is then trained with CTC on each sampled
    transcript, so it learns the teacher's N-best with posterior weights (Takashima et al.
    2018) in expectation, and with its own alignment: no spike timing is transferred. A
    confident teacher gives its greedy transcript every time (then this equals the
    ``sequence`` term, except that ``sequence`` falls back to the ground truth where the
    teacher says nothing); ``temperature > 1`` samples more alternatives.

    Args:
        student_logits: ``(B, T, V)``.
        teacher_logits: ``(B, T, V)``, a constant (no gradient).
        lengths: ``(B,)``; padded frames are never sampled.
        num_samples: transcripts drawn per utterance.
        generator: the random source (default: torch's global one).

    Returns:
        A float32 scalar: the mean over samples and utterances of the CTC loss divided by
        the sampled transcript's length (:func:`ctc_loss`'s ``"mean"``).
    """
    _check_pair(student_logits, teacher_logits, lengths, temperature)
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1; got {num_samples}")
    b, t_max, v = student_logits.shape
    if b == 0 or t_max == 0:
        return student_logits.float().sum() * 0.0
    with _float32(student_logits):
        valid = frame_mask(lengths, t_max)
        probs = torch.softmax(teacher_logits.detach().float()[valid] / temperature, -1)  # (valid frames, V)
        if not bool(torch.isfinite(probs).all()):  # a non-finite teacher: a NaN loss, which the trainer skips
            return student_logits.float().sum() * float("nan")
        draws = teacher_logits.new_full((b, t_max, num_samples), blank, dtype=torch.long)
        if probs.shape[0]:
            draws[valid] = torch.multinomial(probs, num_samples, replacement=True, generator=generator)
        paths = draws.permute(2, 0, 1)  # (N, B, T); padded frames are blank, never sampled
        previous = F.pad(paths[..., :-1], (1, 0), value=-1)
        keep = (paths != blank) & (paths != previous) & valid
        targets = paths[keep]  # row-major: sample, utterance, frame
        target_lengths = keep.sum(-1).reshape(-1)
        repeated = student_logits.unsqueeze(0).expand(num_samples, b, t_max, v).reshape(num_samples * b, t_max, v)
        return ctc_loss(repeated, lengths.repeat(num_samples), targets, target_lengths, blank=blank)
