"""Modules that combine the pure losses with weights (and own the FitNets regressors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from signdistill.losses.functional import (
    BlankMode,
    aligned_kd_loss,
    ctc_loss,
    factorized_kd_loss,
    feature_mse_loss,
    kd_kl_loss,
    sampled_sequence_kd_loss,
    shift_tolerant_kd_loss,
    teacher_log_probs,
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


class FeatureProjector(nn.Module):
    """FitNets regressors: a linear map from each chosen student layer to its teacher layer.

    ``pairs`` are ``(teacher_layer, student_layer)``, 1-based as users count layers.
    These parameters train with the student and are never part of an exported student.
    """

    def __init__(self, pairs: Sequence[tuple[int, int]], student_sizes: Sequence[int], teacher_sizes: Sequence[int]):
        super().__init__()
        self.pairs = [(int(t), int(s)) for t, s in pairs]
        for t, s in self.pairs:
            if not 1 <= t <= len(teacher_sizes):
                raise ValueError(f"teacher layer {t} does not exist: the teacher has {len(teacher_sizes)} layers (1-based)")
            if not 1 <= s <= len(student_sizes):
                raise ValueError(f"student layer {s} does not exist: the student has {len(student_sizes)} layers (1-based)")
        self.maps = nn.ModuleList(nn.Linear(student_sizes[s - 1], teacher_sizes[t - 1]) for t, s in self.pairs)

    def forward(self, student_hidden: Sequence[torch.Tensor], teacher_hidden: Sequence[torch.Tensor]):
        """Yield ``(projected student (B,T,Dt), teacher (B,T,Dt))`` per pair."""
        for (t, s), m in zip(self.pairs, self.maps):
            yield m(student_hidden[s - 1]), teacher_hidden[t - 1]


class LossOutput(NamedTuple):
    """``total`` for backward; ``parts`` holds each component (unweighted, detached floats)."""

    total: torch.Tensor
    parts: dict[str, float]


class DistillationLoss(nn.Module):
    """``kl * KL_T + ctc * CTC + feature * sum_pairs MSE + sequence * CTC(teacher transcript)
    + aligned * token-aligned KL + factorized * factorized KD + shift * shift-tolerant KD
    + sampled * CTC on transcripts sampled from the teacher``
    (see :func:`~signdistill.losses.aligned_kd_loss`, :func:`~signdistill.losses.factorized_kd_loss`,
    :func:`~signdistill.losses.shift_tolerant_kd_loss`, :func:`~signdistill.losses.sampled_sequence_kd_loss`).

    Which weights help where is measured in docs/benchmarks.md, not here; the package's default
    recipe is ``signdistill.recipes.RECOMMENDED_DISTILL``.

    Example:
        >>> loss = DistillationLoss(kl=0.5, ctc=0.5)
        >>> s, t = torch.randn(2, 8, 5, requires_grad=True), torch.randn(2, 8, 5)
        >>> out = loss(s, t, torch.tensor([8, 6]), torch.tensor([1, 2, 3]), torch.tensor([2, 1]), temperature=2.0)
        >>> sorted(out.parts)
        ['ctc', 'kl', 'total']
    """

    def __init__(
        self,
        *,
        kl: float = 0.5,
        ctc: float = 0.5,
        feature: float = 0.0,
        sequence: float = 0.0,
        aligned: float = 0.0,
        factorized: float = 0.0,
        shift: float = 0.0,
        sampled: float = 0.0,
        shift_frames: int = 2,
        num_samples: int = 4,
        gloss_weight: float = 1.0,
        projector: FeatureProjector | None = None,
        blank_mode: BlankMode = "drop",
        blank_weight: float = 0.1,
        topk: int | None = None,
        blank: int = 0,
    ):
        super().__init__()
        weights = {
            "kl": kl,
            "ctc": ctc,
            "feature": feature,
            "sequence": sequence,
            "aligned": aligned,
            "factorized": factorized,
            "shift": shift,
            "sampled": sampled,
        }
        if min(weights.values()) < 0 or sum(weights.values()) <= 0:
            raise ValueError("loss weights must be >= 0 and not all zero")
        if feature > 0 and projector is None:
            raise ValueError("feature > 0 needs a FeatureProjector")
        self.weights = weights
        self.shift_frames = shift_frames
        self.num_samples = num_samples
        self.gloss_weight = gloss_weight
        self.projector = projector
        self.blank_mode: BlankMode = blank_mode
        self.blank_weight = blank_weight
        self.topk = topk
        self.blank = blank

    def forward(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor | Sequence[torch.Tensor] | None,
        lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
        *,
        temperature: float = 1.0,
        kd_scale: float = 1.0,
        student_hidden: Sequence[torch.Tensor] = (),
        teacher_hidden: Sequence[torch.Tensor] = (),
        teacher_topk: tuple[torch.Tensor, torch.Tensor] | None = None,
        teacher_weights: Sequence[float] | None = None,
        sequence_targets: tuple[torch.Tensor, torch.Tensor] | None = None,
        target_weights: torch.Tensor | None = None,
    ) -> LossOutput:
        """Weighted sum of the components; ``kd_scale`` multiplies the KD terms (warm-up/ramps).

        ``target_weights`` ``(B,)``: each utterance's weight in the CTC term (pseudo-labelled or
        unlabeled utterances, :func:`weighted_ctc_loss`); ``None``: every utterance weighs 1.
        """
        w = self.weights
        total = student_logits.new_zeros((), dtype=torch.float32)
        parts: dict[str, float] = {}
        if w["ctc"] > 0:
            c = self._label_ctc(student_logits, lengths, targets, target_lengths, target_weights)
            total = total + w["ctc"] * c
            parts["ctc"] = float(c.detach())
        if w["kl"] > 0 and kd_scale > 0:
            k = kd_kl_loss(
                student_logits,
                teacher_logits,
                lengths,
                temperature,
                teacher_topk=teacher_topk,
                topk=self.topk,
                blank_mode=self.blank_mode,
                blank=self.blank,
                blank_weight=self.blank_weight,
                teacher_weights=teacher_weights,
            )
            total = total + kd_scale * w["kl"] * k
            parts["kl"] = float(k.detach())
        if w["feature"] > 0 and kd_scale > 0:
            assert self.projector is not None
            f = sum(
                (feature_mse_loss(s, t, lengths) for s, t in self.projector(student_hidden, teacher_hidden)),
                start=total.new_zeros(()),
            )
            total = total + kd_scale * w["feature"] * f
            parts["feature"] = float(f.detach())
        if w["sequence"] > 0 and kd_scale > 0:
            if sequence_targets is None:
                raise ValueError("sequence > 0 needs sequence_targets (the teacher's transcripts)")
            sq = ctc_loss(student_logits, lengths, sequence_targets[0], sequence_targets[1], blank=self.blank)
            total = total + kd_scale * w["sequence"] * sq
            parts["sequence"] = float(sq.detach())
        if kd_scale > 0:
            full = self._full_teacher_terms(student_logits, teacher_logits, lengths, targets, target_lengths, temperature, teacher_weights)
            for name, value in full:
                total = total + kd_scale * w[name] * value
                parts[name] = float(value.detach())
        parts["total"] = float(total.detach())
        return LossOutput(total, parts)

    def _label_ctc(
        self, logits: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor, weights: torch.Tensor | None
    ) -> torch.Tensor:
        """CTC on the (pseudo-)labels: plain mean, or weighted per utterance when ``weights`` is given."""
        if weights is None:
            return ctc_loss(logits, lengths, targets, target_lengths, blank=self.blank)
        return weighted_ctc_loss(logits, lengths, targets, target_lengths, weights, blank=self.blank)

    def _full_teacher_terms(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor | Sequence[torch.Tensor] | None,
        lengths: torch.Tensor,
        targets: torch.Tensor,
        target_lengths: torch.Tensor,
        temperature: float,
        teacher_weights: Sequence[float] | None,
    ) -> list[tuple[str, torch.Tensor]]:
        """The unweighted terms that need the teacher's full logits, in the order they are summed."""
        w = self.weights
        needs_full = [k for k in ("aligned", "factorized", "shift", "sampled") if w[k] > 0]
        if not needs_full:
            return []
        if teacher_logits is None:
            raise ValueError(f"{needs_full[0]} KD needs the teacher's full logits (an online teacher, not a top-k cache)")
        # Several teachers: their averaged posteriors (log-probs are valid logits).
        t_logits = (
            teacher_logits if isinstance(teacher_logits, torch.Tensor) else teacher_log_probs(teacher_logits, 1.0, weights=teacher_weights)
        )
        terms: list[tuple[str, torch.Tensor]] = []
        if w["factorized"] > 0:
            fk = factorized_kd_loss(student_logits, t_logits, lengths, temperature, blank=self.blank, gloss_weight=self.gloss_weight)
            terms.append(("factorized", fk))
        if w["shift"] > 0:
            terms.append(("shift", shift_tolerant_kd_loss(student_logits, t_logits, lengths, temperature, shift=self.shift_frames)))
        if w["sampled"] > 0:
            sm = sampled_sequence_kd_loss(
                student_logits, t_logits, lengths, num_samples=self.num_samples, temperature=temperature, blank=self.blank
            )
            terms.append(("sampled", sm))
        if w["aligned"] > 0:
            a = aligned_kd_loss(
                student_logits, t_logits, lengths, targets, target_lengths, temperature, blank_mode=self.blank_mode, blank=self.blank
            )
            terms.append(("aligned", a))
        return terms
