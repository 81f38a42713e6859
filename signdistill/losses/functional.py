"""Pure loss functions over padded ``(B, T, V)`` tensors plus ``lengths``.

Every function masks padded frames exactly (their content never changes the result),
computes in float32 even under autocast, accepts ``T = 1`` and utterances of length 0,
and states its reduction. Nothing here knows about configs, models or data loaders:
``from signdistill.losses import kd_kl_loss`` works in any PyTorch project.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def teacher_log_probs(
    teacher_logits: torch.Tensor | Sequence[torch.Tensor],
    temperature: float = 1.0,
    *,
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Temperature-softened teacher log-posteriors ``log p_T``, ``(B, T, V)`` float32.

    With several teachers (Fukuda et al., 2017, "Efficient knowledge distillation from an
    ensemble of teachers") their softened posteriors are averaged, optionally weighted:
    ``p_T = sum_i w_i softmax(z_i / T) / sum_i w_i``.
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
    stacked = torch.stack([torch.log_softmax(z.float() / temperature, dim=-1) for z in logits])  # (N, B, T, V)
    return torch.logsumexp(stacked + log_w.view(-1, 1, 1, 1), dim=0)


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
    cache: ``values`` are raw teacher logits at T=1) instead of ``teacher_logits``.

    Args:
        student_logits: ``(B, T, V)``.
        teacher_logits: ``(B, T, V)``, or a list of them (averaged posteriors), or None
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
        if teacher_topk is not None:
            values, indices = teacher_topk
            values = values.detach()
            t_lp = torch.log_softmax(values.float() / temperature, dim=-1)  # (B, T, K)
            idx: torch.Tensor | None = indices.long()
        else:
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
        if (idx is None and t_lp.shape != s.shape) or (idx is not None and idx.shape[:2] != s.shape[:2]):
            raise ValueError(f"teacher {tuple(t_lp.shape)} and student {tuple(s.shape)} shapes differ")
        # Which frames the teacher labels blank (before any column is dropped).
        if idx is None:
            teacher_blank = t_lp.argmax(-1) == blank
        else:
            teacher_blank = idx.gather(-1, t_lp.argmax(-1, keepdim=True)).squeeze(-1) == blank

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
        p = t_lp.exp()
        # p * (log p - log q) with 0 * log 0 = 0: dropped or truncated classes carry -inf,
        # so both sides are zeroed there before the product (keeps gradients finite).
        support = p > 0
        t_safe = torch.where(support, t_lp, torch.zeros_like(t_lp))
        s_safe = torch.where(support, s_lp, torch.zeros_like(s_lp))
        per_frame = (torch.where(support, p, torch.zeros_like(p)) * (t_safe - s_safe)).sum(-1)  # (B, T)
        if blank_mode == "drop":
            # A frame where the teacher puts (numerically) all mass on blank has no gloss
            # distribution left to match.
            per_frame = torch.nan_to_num(per_frame, nan=0.0, posinf=0.0, neginf=0.0)
        if blank_mode == "downweight":
            per_frame = per_frame * torch.where(teacher_blank, blank_weight, 1.0)
        if scale_by_t2:
            per_frame = per_frame * temperature**2
        return _reduce(per_frame, mask, reduction)


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


def guided_ctc_loss(
    logits: torch.Tensor,
    guide_logits: torch.Tensor,
    lengths: torch.Tensor,
    *,
    blank: int = 0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Guided CTC term (Kurata & Audhkhasi, 2019, "Guiding CTC posterior spike timings for
    improved posterior fusion and knowledge distillation").

    Added to a model's CTC loss, it pulls the model's spikes to the frames where a *guide*
    model (e.g. the small student trained alone) spikes, so that the model, used later as
    a teacher, fires where a student can: ``-sum_t M_t * p_t(g_t)``, where ``g_t`` is the
    guide's most likely label at frame t and ``M_t = 1`` when it is not blank.

    Args:
        logits: ``(B, T, V)`` of the model being trained.
        guide_logits: ``(B, T, V)`` (a constant).
        reduction: ``"mean"`` over guided frames (0 when there are none), ``"sum"`` or ``"none"``.
    """
    _check(logits, lengths, "logits")
    with _float32(logits):
        guide = guide_logits.detach().float().argmax(-1)  # (B, T)
        mask = frame_mask(lengths, logits.shape[1]) & (guide != blank)
        p = torch.softmax(logits.float(), dim=-1).gather(-1, guide.unsqueeze(-1)).squeeze(-1)  # (B, T)
        per_frame = -p
        if reduction == "mean":
            return per_frame.masked_fill(~mask, 0.0).sum() / mask.sum().clamp(min=1)
        return _reduce(per_frame, mask, reduction)


@torch.no_grad()
def ctc_spike_frames(
    log_probs: torch.Tensor,
    lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    *,
    blank: int = 0,
) -> torch.Tensor:
    """Frame at which the best CTC alignment (Viterbi) first emits each target label.

    Args:
        log_probs: ``(B, T, V)``.
        targets: ``(B, S)`` padded, or concatenated ``(sum S,)``.
    Returns:
        ``(B, S_max)`` int64 frame indices; -1 for padding or impossible alignments.
    """
    b, t_max, _ = log_probs.shape
    if targets.dim() == 1:
        rows = targets.split(target_lengths.tolist())
        s_max = int(target_lengths.max()) if b else 0
        padded = targets.new_zeros((b, max(s_max, 1)))
        for i, r in enumerate(rows):
            padded[i, : r.numel()] = r
        targets = padded
    s_max = targets.shape[1]
    n_states = 2 * s_max + 1
    dev = log_probs.device
    ext = torch.full((b, n_states), blank, dtype=torch.long, device=dev)
    ext[:, 1::2] = targets
    lp = log_probs.float()
    emit = lp.gather(2, ext.unsqueeze(1).expand(b, t_max, n_states))  # (B, T, L)
    neg = torch.tensor(float("-inf"), device=dev)
    state_idx = torch.arange(n_states, device=dev)
    n_valid = (2 * target_lengths + 1).unsqueeze(1)  # (B, 1)
    valid_state = state_idx.unsqueeze(0) < n_valid
    # Skipping over a blank is allowed into a label that differs from the label two states back.
    skip_ok = torch.zeros((b, n_states), dtype=torch.bool, device=dev)
    skip_ok[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    alpha = torch.full((b, n_states), float("-inf"), device=dev)
    alpha[:, 0] = emit[:, 0, 0]
    if n_states > 1:
        alpha[:, 1] = torch.where(target_lengths > 0, emit[:, 0, 1], neg)
    alpha = torch.where(valid_state, alpha, neg)
    back = torch.zeros((b, t_max, n_states), dtype=torch.int8, device=dev)
    for t in range(1, t_max):
        stay = alpha
        step = torch.cat([alpha.new_full((b, 1), float("-inf")), alpha[:, :-1]], 1)
        skip = torch.cat([alpha.new_full((b, 2), float("-inf")), alpha[:, :-2]], 1)
        skip = torch.where(skip_ok, skip, neg)
        cand = torch.stack([stay, step, skip], -1)  # (B, L, 3)
        best, arg = cand.max(-1)
        new = torch.where(valid_state, best + emit[:, t], neg)
        active = (t < lengths).unsqueeze(1)
        alpha = torch.where(active, new, alpha)
        back[:, t] = torch.where(active, arg, torch.zeros_like(arg)).to(torch.int8)
    last = (n_valid.squeeze(1) - 1).clamp(min=0)
    end_a = alpha.gather(1, last.unsqueeze(1)).squeeze(1)
    end_b = alpha.gather(1, (last - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
    state = torch.where((end_b > end_a) & (last > 0), last - 1, last)
    feasible = torch.isfinite(torch.maximum(end_a, end_b)) & (lengths > 0)
    path = torch.zeros((b, t_max), dtype=torch.long, device=dev)
    for t in range(t_max - 1, -1, -1):
        inside = t < lengths
        path[:, t] = torch.where(inside, state, torch.full_like(state, -1))
        move = back[:, t].long().gather(1, state.clamp(min=0).unsqueeze(1)).squeeze(1)
        state = torch.where(inside & (t > 0), state - move, state)
    spikes = torch.full((b, s_max), t_max, dtype=torch.long, device=dev)
    is_label = (path % 2 == 1) & (path >= 0)
    label_pos = torch.where(is_label, (path - 1) // 2, torch.zeros_like(path))
    frames = torch.arange(t_max, device=dev).unsqueeze(0).expand(b, t_max)
    spikes.scatter_reduce_(1, label_pos, torch.where(is_label, frames, torch.full_like(frames, t_max)), reduce="amin")
    spikes = torch.where(spikes >= t_max, torch.full_like(spikes, -1), spikes)
    spikes[~feasible] = -1
    spikes[torch.arange(s_max, device=dev).unsqueeze(0) >= target_lengths.unsqueeze(1)] = -1
    return spikes


def aligned_kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    temperature: float = 1.0,
    *,
    blank_mode: BlankMode = "keep",
    blank: int = 0,
    scale_by_t2: bool = True,
) -> torch.Tensor:
    r"""Token-aligned KD: the teacher's distribution at *its* spike for each target gloss,
    taught to the student at *its own* spike for the same gloss.

    Frame-level KD also transfers the teacher's timing; a BiLSTM teacher often fires at
    frames where a small student cannot (for example all at the end of the utterance),
    and the student then loses those glosses. Here both models' best CTC alignments of the
    reference (Viterbi, :func:`ctc_spike_frames`) pair the k-th gloss's spike frames, and
    ``KL(p_T(teacher frame) || q_T(student frame))`` is averaged over glosses (x T^2).
    Timing stays the student's own; what transfers is *which* gloss and its confusions.
    ``blank_mode="drop"`` compares the gloss distributions only.

    Returns:
        A float32 scalar: mean over aligned gloss tokens (0 when there are none).
    """
    _check(student_logits, lengths, "student_logits")
    with _float32(student_logits):
        s_lp_full = torch.log_softmax(student_logits.float(), -1)
        t_lp_full = torch.log_softmax(teacher_logits.detach().float(), -1)
        s_frames = ctc_spike_frames(s_lp_full.detach(), lengths, targets, target_lengths, blank=blank)
        t_frames = ctc_spike_frames(t_lp_full, lengths, targets, target_lengths, blank=blank)
        ok = (s_frames >= 0) & (t_frames >= 0)  # (B, S)
        if not bool(ok.any()):
            return student_logits.float().sum() * 0.0
        bi, si = ok.nonzero(as_tuple=True)
        s_rows = student_logits.float()[bi, s_frames[bi, si]] / temperature  # (N, V)
        t_rows = teacher_logits.detach().float()[bi, t_frames[bi, si]] / temperature
        if blank_mode == "drop":
            keep = torch.ones(s_rows.shape[-1], dtype=torch.bool, device=s_rows.device)
            keep[blank] = False
            s_rows, t_rows = s_rows[:, keep], t_rows[:, keep]
        q = torch.log_softmax(s_rows, -1)
        p_log = torch.log_softmax(t_rows, -1)
        kl = (p_log.exp() * (p_log - q)).sum(-1).mean()
        return kl * (temperature**2 if scale_by_t2 else 1.0)


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
        student_logits, teacher_logits: ``(B, T, V)``; the teacher is a constant.
        lengths: ``(B,)``; padded frames are ignored exactly.
        reduction: ``"mean"`` over valid frames, ``"sum"``, or ``"none"`` for ``(B, T)``.
    """
    _check(student_logits, lengths, "student_logits")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher {tuple(teacher_logits.shape)} and student {tuple(student_logits.shape)} shapes differ")
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
        student_logits, teacher_logits: ``(B, T, V)``; the teacher is a constant.
        lengths: ``(B,)``; padded frames are neither scored nor used as teacher frames.
        shift: ``>= 0`` frames of tolerance either side.
        reduction: ``"mean"`` over valid frames, ``"sum"``, or ``"none"`` for ``(B, T)``.
    """
    _check(student_logits, lengths, "student_logits")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    if shift < 0:
        raise ValueError(f"shift must be >= 0 frames; got {shift}")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher {tuple(teacher_logits.shape)} and student {tuple(student_logits.shape)} shapes differ")
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
        student_logits, teacher_logits: ``(B, T, V)``; the teacher is a constant.
        lengths: ``(B,)``; padded frames are never sampled.
        num_samples: transcripts drawn per utterance.
        generator: the random source (default: torch's global one).

    Returns:
        A float32 scalar: the mean over samples and utterances of the CTC loss divided by
        the sampled transcript's length (:func:`ctc_loss`'s ``"mean"``).
    """
    _check(student_logits, lengths, "student_logits")
    if temperature <= 0 or num_samples < 1:
        raise ValueError(f"need temperature > 0 and num_samples >= 1; got {temperature}, {num_samples}")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher {tuple(teacher_logits.shape)} and student {tuple(student_logits.shape)} shapes differ")
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
