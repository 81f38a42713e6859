"""Modules that combine the pure losses with weights (and own the FitNets regressors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from signdistill.losses.common import weighted_ctc_loss
from signdistill.losses.terms import TERMS, TeacherTargets, Term, TermInputs, term_names, term_options


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
    """A weighted sum of the terms of :mod:`signdistill.losses.terms`, in the table's order::

        total = sum_i s_i * w_i * term_i,   s_i = kd_scale for KD terms, 1 for ctc

    Terms (default weight): ``ctc`` (0.5) CTC on the labels, ``kl`` (0.5) frame KL at T,
    ``feature`` FitNets MSE over a :class:`FeatureProjector`'s pairs, ``sequence`` CTC on the
    teacher's transcripts, ``factorized``, ``shift``, ``sampled``, ``aligned`` (0; see
    :func:`~signdistill.losses.factorized_kd_loss`, :func:`~signdistill.losses.shift_tolerant_kd_loss`,
    :func:`~signdistill.losses.sampled_sequence_kd_loss`, :func:`~signdistill.losses.aligned_kd_loss`).
    Options (default): ``blank_mode`` ("drop"), ``blank_weight`` (0.1), ``topk`` (None),
    ``gloss_weight`` (1.0), ``shift_frames`` (2), ``num_samples`` (4).

    Which weights help where is measured in docs/benchmarks.md, not here; the package's default
    recipe is ``signdistill.recipes.RECOMMENDED_DISTILL``.

    Args:
        weights: term name -> weight, the names left out weigh 0 (``None``: the default weights).
        projector: the FitNets regressors, needed when a term reads hidden states (``feature``).
        blank: the blank class.
        **options: weights by term name (``kl=0.5``, over ``weights``) and the terms' options.

    Example:
        >>> loss = DistillationLoss(kl=0.5, ctc=0.5)
        >>> s, t = torch.randn(2, 8, 5, requires_grad=True), torch.randn(2, 8, 5)
        >>> out = loss(s, t, torch.tensor([8, 6]), torch.tensor([1, 2, 3]), torch.tensor([2, 1]), temperature=2.0)
        >>> sorted(out.parts)
        ['ctc', 'kl', 'total']
    """

    def __init__(
        self, weights: Mapping[str, float] | None = None, *, projector: FeatureProjector | None = None, blank: int = 0, **options: Any
    ):
        super().__init__()
        by_name = {k: options.pop(k) for k in list(options) if k in TERMS}
        unknown = sorted(set(weights or {}) - set(TERMS))
        if unknown:
            raise ValueError(f"unknown loss term(s) {unknown}; the terms are {term_names()}")
        base = {n: t.weight for n, t in TERMS.items()} if weights is None else dict.fromkeys(TERMS, 0.0)
        merged = {**base, **(weights or {}), **by_name}
        self.weights: dict[str, float] = {n: merged[n] for n in TERMS}
        if min(self.weights.values()) < 0 or sum(self.weights.values()) <= 0:
            raise ValueError(f"loss weights must be >= 0 and not all zero; got {self.weights}")
        known = term_options()
        bad = sorted(set(options) - set(known))
        if bad:
            raise TypeError(
                f"DistillationLoss got unknown argument(s) {bad}: the term weights are {term_names()}, the options {sorted(known)}"
            )
        self.options: dict[str, Any] = {**known, **options, "blank": blank}
        hidden = [t.name for t in self.terms if "hidden" in t.needs]
        if hidden and projector is None:
            raise ValueError(f"{', '.join(hidden)} > 0 needs a FeatureProjector (the student's layers in the teacher's space)")
        self.projector = projector
        self.blank = blank

    @property
    def terms(self) -> list[Term]:
        """The terms with a weight > 0, in the order they are summed."""
        return [TERMS[n] for n, w in self.weights.items() if w > 0]

    @property
    def needs(self) -> frozenset[str]:
        """What the weighted terms read of the teacher (see :data:`~signdistill.losses.terms.NEEDS`)."""
        return frozenset().union(*(t.needs for t in self.terms))

    def forward(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor | Sequence[torch.Tensor] | TeacherTargets | None,
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
        """Weighted sum of the terms; ``kd_scale`` multiplies the KD terms (warm-up/ramps).

        ``teacher_logits`` is a :class:`~signdistill.losses.terms.TeacherTargets` built once per batch,
        or the teacher's logits ``(B, T, V)`` (a list: an ensemble mixed with ``teacher_weights``), which
        with ``teacher_hidden``, ``teacher_topk`` and ``sequence_targets`` make one. A ``TeacherTargets``
        whose ``lengths`` differ from ``lengths`` (a teacher at another frame rate) is first brought to the
        student's frames (area averaging in probability space; :mod:`signdistill.losses.rates`).
        ``target_weights`` ``(B,)``: each utterance's weight in the CTC term (pseudo-labelled or
        unlabeled utterances, :func:`weighted_ctc_loss`); ``None``: every utterance weighs 1.
        """
        teacher = teacher_logits
        if not isinstance(teacher, TeacherTargets):
            teacher = TeacherTargets(teacher, teacher_weights, teacher_topk, teacher_hidden, sequence_targets)
        elif teacher_hidden or teacher_topk is not None or teacher_weights is not None or sequence_targets is not None:
            raise ValueError("give the teacher's hidden states, top-k, weights and transcripts inside TeacherTargets, not beside it")
        if teacher.lengths is not None:  # the teacher at its own frame rate: brought to the student's (TeacherTargets.at_rate)
            teacher = teacher.at_rate(teacher.lengths, lengths, student_logits.shape[1], student_logits.shape[-1])
        x = TermInputs(
            student_logits,
            lengths,
            targets,
            target_lengths,
            teacher,
            temperature,
            self.options,
            student_hidden=student_hidden,
            target_weights=target_weights,
            projector=self.projector,
        )
        total = student_logits.new_zeros((), dtype=torch.float32)
        parts: dict[str, float] = {}
        for term in self.terms:
            scale = kd_scale if term.kd else 1.0
            if scale <= 0:
                continue
            if "full" in term.needs and teacher.full is None:
                raise ValueError(f"{term.name} KD needs the teacher's full logits (an online teacher, not a top-k cache)")
            value = term.fn(x)
            total = total + scale * self.weights[term.name] * value
            parts[term.name] = float(value.detach())
        parts["total"] = float(total.detach())
        return LossOutput(total, parts)


__all__ = ["DistillationLoss", "FeatureProjector", "LossOutput", "TeacherTargets", "weighted_ctc_loss"]
