"""Pure loss functions over padded ``(B, T, V)`` tensors plus ``lengths``: frame-level KD and
FitNets hints here, and every other loss of the package re-exported under this one name.

Every function masks padded frames exactly (their content never changes the result),
computes in float32 even under autocast, accepts ``T = 1`` and utterances of length 0,
and states its reduction (:mod:`signdistill.losses.common` holds those conventions).
Nothing here knows about configs, models or data loaders:
``from signdistill.losses import kd_kl_loss`` works in any PyTorch project.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

# The other rooms' losses are re-exported (one way: they import only losses.common) so that
# `from signdistill.losses.functional import X` keeps working for every loss.
from signdistill.losses.alignment import aligned_kd_loss, ctc_spike_frames, guided_ctc_loss
from signdistill.losses.common import BlankMode, Reduction, _check, _float32, _reduce, ctc_loss, frame_mask
from signdistill.losses.ctc_kd import factorized_kd_loss, sampled_sequence_kd_loss, shift_tolerant_kd_loss


def teacher_log_probs(
    teacher_logits: torch.Tensor | Sequence[torch.Tensor],
    temperature: float = 1.0,
    *,
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Temperature-softened teacher log-posteriors ``log p_T``, ``(B, T, V)`` float32.

    One teacher: ``p_T = softmax(z / T)``. Several (Fukuda et al., 2017, "Efficient knowledge
    distillation from an ensemble of teachers") are one teacher whose posterior is the weighted
    mixture of their T = 1 posteriors, softened like any teacher's::

        p = sum_i w_i softmax(z_i) / sum_i w_i,      p_T = softmax(log p / T)  (∝ p^(1/T))

    Every KD term and the teacher cache (which stores the T = 1 mixture) use this one definition,
    so online and cached, frame-KL and factorized targets agree at any temperature. (The frame KL
    once mixed the teachers' *tempered* posteriors instead; at T = 1 the two definitions agree.)
    """
    if isinstance(teacher_logits, torch.Tensor):
        return torch.log_softmax(teacher_logits.float() / temperature, dim=-1)
    logits = list(teacher_logits)
    if not logits:
        raise ValueError("teacher_logits is an empty list")
    w = torch.tensor(weights if weights is not None else [1.0] * len(logits), dtype=torch.float32, device=logits[0].device)
    if w.numel() != len(logits) or bool((w <= 0).any()):
        raise ValueError(f"need one positive weight per teacher; got {w.tolist()} for {len(logits)} teachers")
    log_w = torch.log(w / w.sum())
    stacked = torch.stack([torch.log_softmax(z.float(), dim=-1) for z in logits])  # (N, B, T, V)
    mixed = torch.logsumexp(stacked + log_w.view(-1, 1, 1, 1), dim=0)  # log p at T = 1
    return mixed if temperature == 1.0 else torch.log_softmax(mixed / temperature, dim=-1)


def kd_kl_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor | Sequence[torch.Tensor] | None,
    lengths: torch.Tensor,
    temperature: float = 1.0,
    *,
    teacher_topk: tuple[torch.Tensor, torch.Tensor] | None = None,
    topk: int | None = None,
    blank_mode: BlankMode = "keep",
    blank: int = 0,
    blank_weight: float = 0.1,
    teacher_weights: Sequence[float] | None = None,
    scale_by_t2: bool = True,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Frame-level KL(teacher || student) between temperature-softened posteriors.

    Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network"::

        KL_t = sum_v p_T(v) [log p_T(v) - log q_T(v)],   p_T = softmax(z_teacher / T),
        loss = T^2 * reduce_t(w_t * KL_t)                 q_T = softmax(z_student / T)

    The ``T^2`` factor (``scale_by_t2``) keeps gradient magnitudes comparable across
    temperatures. CTC posteriors are dominated by blank frames, so:

    * ``blank_mode="keep"``: the full distribution (plain Hinton KD).
    * ``"drop"``: remove the blank column from both distributions and renormalize over
      the glosses (as VAC, Min et al. 2021, does for its distillation term).
    * ``"downweight"``: frames where the teacher's most likely class is blank get weight
      ``blank_weight`` (0 matches only gloss frames), the others weight 1.

    ``topk`` keeps the teacher's k most likely classes per frame, renormalized; the
    student's log-probabilities over the full vocabulary are read at those classes.
    ``teacher_topk=(values, indices)`` passes such targets precomputed (from a teacher
    cache: ``values`` are the teacher's T=1 logits or log-probs at those classes) instead of ``teacher_logits``.

    Args:
        student_logits: ``(B, T, V)``.
        teacher_logits: ``(B, T, V)``, or a list of them (an ensemble, :func:`teacher_log_probs`), or None
            when ``teacher_topk`` is given.
        lengths: ``(B,)`` valid frames; padded frames are ignored exactly.
        temperature: ``T > 0``.
        reduction: ``"mean"`` over valid frames (the weights of ``downweight`` scale the
            terms but not the denominator), ``"sum"``, or ``"none"`` for ``(B, T)``.

    Returns:
        A float32 scalar (or ``(B, T)`` for ``"none"``). 0 when no frame is valid.

    Example:
        >>> s, t = torch.randn(2, 5, 4), torch.randn(2, 5, 4)
        >>> float(kd_kl_loss(t, t, torch.tensor([5, 3]), temperature=2.0))
        0.0
    """
    _check(student_logits, lengths, "student_logits")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    with _float32(student_logits):
        s = student_logits.float() / temperature
        mask = frame_mask(lengths, s.shape[1])
        t_lp, idx = _kd_targets(teacher_logits, teacher_topk, temperature, topk, teacher_weights)
        if (idx is None and t_lp.shape != s.shape) or (idx is not None and idx.shape[:2] != s.shape[:2]):
            raise ValueError(f"teacher {tuple(t_lp.shape)} and student {tuple(s.shape)} shapes differ")
        # Which frames the teacher labels blank (before any column is dropped).
        if idx is None:
            teacher_blank = t_lp.argmax(-1) == blank
        else:
            teacher_blank = idx.gather(-1, t_lp.argmax(-1, keepdim=True)).squeeze(-1) == blank
        t_lp, s_lp = _apply_blank_mode(t_lp, s, idx, blank_mode, blank)
        per_frame = _kl_per_frame(t_lp, s_lp)  # (B, T)
        if blank_mode == "drop":
            # A frame where the teacher puts (numerically) all mass on blank has no gloss
            # distribution left to match.
            per_frame = torch.nan_to_num(per_frame, nan=0.0, posinf=0.0, neginf=0.0)
        if blank_mode == "downweight":
            per_frame = per_frame * torch.where(teacher_blank, blank_weight, 1.0)
        if scale_by_t2:
            per_frame = per_frame * temperature**2
        return _reduce(per_frame, mask, reduction)


def _kd_targets(
    teacher_logits: torch.Tensor | Sequence[torch.Tensor] | None,
    teacher_topk: tuple[torch.Tensor, torch.Tensor] | None,
    temperature: float,
    topk: int | None,
    teacher_weights: Sequence[float] | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The teacher's softened log-probs ``(B, T, V)``, or ``(B, T, K)`` plus their class indices for top-k targets."""
    if teacher_topk is not None:
        values, indices = teacher_topk
        values = values.detach()
        t_lp = torch.log_softmax(values.float() / temperature, dim=-1)  # (B, T, K)
        return t_lp, indices.long()
    if teacher_logits is None:
        raise ValueError("give teacher_logits or teacher_topk")
    if isinstance(teacher_logits, torch.Tensor):
        teacher_logits = teacher_logits.detach()
    else:
        teacher_logits = [z.detach() for z in teacher_logits]
    t_lp = teacher_log_probs(teacher_logits, temperature, weights=teacher_weights)
    idx = None
    if topk is not None and topk < t_lp.shape[-1]:
        t_lp, idx = t_lp.topk(topk, dim=-1)
        t_lp = t_lp - torch.logsumexp(t_lp, dim=-1, keepdim=True)
    return t_lp, idx


def _apply_blank_mode(
    t_lp: torch.Tensor, s: torch.Tensor, idx: torch.Tensor | None, blank_mode: BlankMode, blank: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher and student log-probs over the classes compared (blank dropped and renormalized for ``"drop"``)."""
    if blank_mode == "drop":
        if idx is None:
            keep = torch.ones(t_lp.shape[-1], dtype=torch.bool, device=t_lp.device)
            keep[blank] = False
            t_lp = t_lp[..., keep]
            s_lp = torch.log_softmax(s[..., keep], dim=-1)
        else:
            t_lp = t_lp.masked_fill(idx == blank, float("-inf"))
            s_lp = torch.log_softmax(s.index_fill(-1, torch.tensor([blank], device=s.device), float("-inf")), -1)
        t_lp = t_lp - torch.logsumexp(t_lp, dim=-1, keepdim=True)
    elif blank_mode in ("keep", "downweight"):
        s_lp = torch.log_softmax(s, dim=-1)
    else:
        raise ValueError(f"blank_mode must be 'keep', 'drop' or 'downweight'; got {blank_mode!r}")
    if idx is not None:
        s_lp = s_lp.gather(-1, idx)
    return t_lp, s_lp


def _kl_per_frame(t_lp: torch.Tensor, s_lp: torch.Tensor) -> torch.Tensor:
    """``sum_v p (log p - log q)`` per frame, ``(B, T)``, with 0 * log 0 = 0."""
    p = t_lp.exp()
    # p * (log p - log q) with 0 * log 0 = 0: dropped or truncated classes carry -inf,
    # so both sides are zeroed there before the product (keeps gradients finite).
    support = p > 0
    t_safe = torch.where(support, t_lp, torch.zeros_like(t_lp))
    s_safe = torch.where(support, s_lp, torch.zeros_like(s_lp))
    return (torch.where(support, p, torch.zeros_like(p)) * (t_safe - s_safe)).sum(-1)  # (B, T)


def feature_mse_loss(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    lengths: torch.Tensor,
    *,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""FitNets hint loss (Romero et al., 2015): ``reduce_t ||r(h_s) - h_t||^2 / D_t``.

    ``student_hidden`` must already be regressed into the teacher's space by a learned
    map ``r`` (see :class:`~signdistill.losses.FeatureProjector`): the student learns to
    predict the teacher's features, not the other way round. (Projecting the teacher
    into the student's space lets the projection imitate the student and the loss
    vanishes without teaching anything.) The teacher features are treated as constants.

    Args:
        student_hidden: ``(B, T, D_t)``, the student's layer after the regressor.
        teacher_hidden: ``(B, T, D_t)``.
        lengths: ``(B,)``; padded frames are ignored.
        reduction: ``"mean"`` over valid frames of the per-frame mean squared error.
    """
    _check(student_hidden, lengths, "student_hidden")
    if student_hidden.shape != teacher_hidden.shape:
        raise ValueError(
            f"student {tuple(student_hidden.shape)} and teacher {tuple(teacher_hidden.shape)} features "
            "differ in shape; project the student's layer to the teacher's width first"
        )
    with _float32(student_hidden):
        diff = student_hidden.float() - teacher_hidden.detach().float()
        per_frame = diff.pow(2).mean(-1)
        return _reduce(per_frame, frame_mask(lengths, diff.shape[1]), reduction)


__all__ = [
    "BlankMode",
    "Reduction",
    "aligned_kd_loss",
    "ctc_loss",
    "ctc_spike_frames",
    "factorized_kd_loss",
    "feature_mse_loss",
    "frame_mask",
    "guided_ctc_loss",
    "kd_kl_loss",
    "sampled_sequence_kd_loss",
    "shift_tolerant_kd_loss",
    "teacher_log_probs",
]
