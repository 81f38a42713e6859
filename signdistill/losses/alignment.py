"""CTC alignment tools for distillation: Viterbi spike frames, token-aligned KD, guided CTC.

Pure functions over padded ``(B, T, V)`` tensors plus ``lengths`` (see
:mod:`signdistill.losses.common` for the conventions); torch only.
"""

from __future__ import annotations

import torch

from signdistill.losses.common import BlankMode, Reduction, _check, _float32, _reduce, frame_mask


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
        return _reduce(-p, mask, reduction)


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
        targets = _padded_targets(targets, target_lengths, b)
    s_max = targets.shape[1]
    dev = log_probs.device
    path, feasible = _viterbi_path(log_probs, lengths, targets, target_lengths, blank)
    spikes = torch.full((b, s_max), t_max, dtype=torch.long, device=dev)
    is_label = (path % 2 == 1) & (path >= 0)
    label_pos = torch.where(is_label, (path - 1) // 2, torch.zeros_like(path))
    frames = torch.arange(t_max, device=dev).unsqueeze(0).expand(b, t_max)
    spikes.scatter_reduce_(1, label_pos, torch.where(is_label, frames, torch.full_like(frames, t_max)), reduce="amin")
    spikes = torch.where(spikes >= t_max, torch.full_like(spikes, -1), spikes)
    spikes[~feasible] = -1
    spikes[torch.arange(s_max, device=dev).unsqueeze(0) >= target_lengths.unsqueeze(1)] = -1
    return spikes


def _padded_targets(targets: torch.Tensor, target_lengths: torch.Tensor, b: int) -> torch.Tensor:
    """Concatenated ``(sum S,)`` targets as ``(B, max(S_max, 1))``, zero-padded."""
    rows = targets.split(target_lengths.tolist())
    s_max = int(target_lengths.max()) if b else 0
    padded = targets.new_zeros((b, max(s_max, 1)))
    for i, r in enumerate(rows):
        padded[i, : r.numel()] = r
    return padded


def _viterbi_path(
    log_probs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor, blank: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The best alignment's state per frame ``(B, T)`` (state ``2k + 1`` is label k, even states are
    blanks; -1 past an utterance's end) and whether an alignment exists ``(B,)``."""
    b, t_max, _ = log_probs.shape
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
    return path, feasible


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
