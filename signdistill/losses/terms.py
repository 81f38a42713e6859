"""The distillation objective as a table of terms: the teacher's targets for one batch in one value
(:class:`TeacherTargets`), and every term :class:`~signdistill.losses.DistillationLoss` can weigh,
registered in the order it sums them.

A term is a pure function of :class:`TermInputs` (student output, teacher targets, lengths, labels,
temperature and the term's own options) returning an unweighted scalar. It declares its name, what
of the teacher it reads (``needs``) and its options with their defaults; the loss, the objective
that builds the targets and the pipeline read those declarations, so a new term is its entry here
and its test (plus its weight and options in the config schema, ``signdistill.config.distill``,
which a test keeps equal to this table). Torch only.

One ensemble definition holds everywhere (online or cached, every term): several teachers are one
teacher whose posterior is the weighted mixture of their T = 1 posteriors, ``p = sum_i w_i
softmax(z_i) / sum_i w_i``, softened like any teacher's: ``p_T ∝ p^(1/T)``
(:func:`~signdistill.losses.teacher_log_probs`). A teacher cache stores that mixture's top-k at T = 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
from torch import nn

from signdistill.losses.alignment import aligned_kd_loss
from signdistill.losses.common import ctc_loss, weighted_ctc_loss
from signdistill.losses.ctc_kd import factorized_kd_loss, sampled_sequence_kd_loss, shift_tolerant_kd_loss
from signdistill.losses.functional import feature_mse_loss, kd_kl_loss, teacher_log_probs
from signdistill.losses.rates import resample_frames, resample_log_probs

# What a term may read of the teacher: "probs" its posteriors (full or a cache's top-k), "full" its
# full posteriors (an online teacher), "hidden" its per-layer states, "sequences" its transcripts.
NEEDS = ("probs", "full", "hidden", "sequences")


@dataclass
class TeacherTargets:
    """The teacher's side of one batch, built once (online or cached; one teacher or several).

    Attributes:
        logits: ``(B, T, V)`` raw logits of one teacher, or a list of them (an ensemble mixed with
            ``weights``); ``None`` for a cache.
        weights: one positive weight per teacher of a list (``None``: equal).
        topk: ``(values (B, T, K), indices (B, T, K))``: a cache's T = 1 log-probs at the teacher's K
            best classes.
        hidden: the (first) teacher's per-layer states ``(B, T, D_l)``.
        sequences: the teacher's transcripts as CTC targets ``(concatenated targets, lengths (B,))``.
        lengths: ``(B,)`` the teacher's valid frames (its output's, or the input's for a cache).
        classes: a cache's vocabulary size; with it, the terms that read full posteriors read the cache's
            renormalized top-k (:func:`dense_topk`).
    """

    logits: torch.Tensor | Sequence[torch.Tensor] | None = None
    weights: Sequence[float] | None = None
    topk: tuple[torch.Tensor, torch.Tensor] | None = None
    hidden: Sequence[torch.Tensor] = ()
    sequences: tuple[torch.Tensor, torch.Tensor] | None = None
    lengths: torch.Tensor | None = None  # (B,) the teacher's frames, when known (for at_rate)
    classes: int | None = None  # a cache's vocabulary size: its top-k can stand in for full posteriors

    def at_rate(self, lengths: torch.Tensor, target_lengths: torch.Tensor, frames: int, classes: int) -> TeacherTargets:
        """These targets at another frame rate: ``lengths`` (the teacher's frames) onto ``target_lengths``
        (``frames`` padded), over ``classes`` output classes.

        Posteriors are area-averaged in probability space (:func:`~signdistill.losses.rates.resample_log_probs`;
        the result is the ensemble mixture's log-probs, or a cache's renormalized top-k made dense), hidden
        states area-averaged as they are; transcripts need no frame rate. Equal lengths return ``self``.
        """
        if frames == self._frames() and torch.equal(lengths, target_lengths):
            return self
        probs: torch.Tensor | None = None
        if self.topk is not None:  # the cache's top-k, renormalized, as a dense distribution
            probs = dense_topk(self.topk, classes)
        elif self.full is not None:
            probs = torch.log_softmax(self.full.float(), -1)
        return TeacherTargets(
            logits=resample_log_probs(probs, lengths, target_lengths, frames) if probs is not None else None,
            hidden=[resample_frames(h, lengths, target_lengths, frames) for h in self.hidden],
            sequences=self.sequences,
        )

    def _frames(self) -> int:
        if self.topk is not None:
            return self.topk[0].shape[1]
        if self.logits is not None:
            return (self.logits if isinstance(self.logits, torch.Tensor) else self.logits[0]).shape[1]
        return self.hidden[0].shape[1] if self.hidden else -1

    @cached_property
    def full(self) -> torch.Tensor | None:
        """One teacher's logits at T = 1 ``(B, T, V)``: its raw logits, an ensemble's mixture log-probs, or a
        cache's top-k renormalized over the ``classes`` (the rest at probability ~0; exact when k = V)."""
        if self.logits is None:
            return dense_topk(self.topk, self.classes) if self.topk is not None and self.classes else None
        if isinstance(self.logits, torch.Tensor):
            return self.logits
        return teacher_log_probs(self.logits, 1.0, weights=self.weights)


def dense_topk(topk: tuple[torch.Tensor, torch.Tensor], classes: int) -> torch.Tensor:
    """``(values, indices)`` of the top-k log-probs -> ``(B, T, classes)`` log-probs, renormalized over the k."""
    values, indices = topk
    dense = values.new_full((*values.shape[:2], classes), -1e4, dtype=torch.float32)
    return torch.log_softmax(dense.scatter(-1, indices.long(), values.float()), -1)


@dataclass(frozen=True)
class TermInputs:
    """What a term sees: the student's output, the teacher's targets and the batch's labels."""

    student_logits: torch.Tensor  # (B, T, V)
    lengths: torch.Tensor  # (B,)
    targets: torch.Tensor  # concatenated labels
    target_lengths: torch.Tensor  # (B,)
    teacher: TeacherTargets
    temperature: float
    options: Mapping[str, Any]  # the terms' options (with their defaults) and ``blank``
    student_hidden: Sequence[torch.Tensor] = ()
    target_weights: torch.Tensor | None = None  # (B,) per-utterance CTC weight
    projector: nn.Module | None = None  # FitNets regressors


@dataclass(frozen=True)
class Term:
    """One row of the table: ``fn(inputs) -> unweighted scalar``, what it needs and its options."""

    name: str
    fn: Callable[[TermInputs], torch.Tensor]
    needs: frozenset[str]
    options: Mapping[str, Any] = field(default_factory=dict)
    weight: float = 0.0  # DistillationLoss's default weight
    kd: bool = True  # scaled by kd_scale and skipped while it is 0 (CTC warm-up); False: the label term
    summary: str = ""


TERMS: dict[str, Term] = {}


def register_term(
    name: str, *, needs: Sequence[str] = (), options: Mapping[str, Any] | None = None, weight: float = 0.0, kd: bool = True
) -> Callable[[Callable[[TermInputs], torch.Tensor]], Callable[[TermInputs], torch.Tensor]]:
    """Add a term to the table (terms are summed in registration order); a duplicate name raises.

    Example:
        >>> @register_term("my_kd", needs=["full"], options={"my_knob": 1.0})  # doctest: +SKIP
        ... def _my_kd(x: TermInputs) -> torch.Tensor: ...
    """
    bad = sorted(set(needs) - set(NEEDS))
    if bad:
        raise ValueError(f"term {name!r}: unknown needs {bad}; valid: {list(NEEDS)}")

    def add(fn: Callable[[TermInputs], torch.Tensor]) -> Callable[[TermInputs], torch.Tensor]:
        if name in TERMS:
            raise ValueError(f"a loss term called {name!r} is registered already")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        TERMS[name] = Term(name, fn, frozenset(needs), dict(options or {}), weight, kd, summary)
        return fn

    return add


def term_names() -> list[str]:
    """The registered terms, in the order they are summed."""
    return list(TERMS)


def term_options() -> dict[str, Any]:
    """Every option a registered term reads, with its default (each option has one default)."""
    out: dict[str, Any] = {}
    for t in TERMS.values():
        out.update(t.options)
    return out


# The built-in terms, in the order the loss has always summed them (float addition is not associative).


@register_term("ctc", weight=0.5, kd=False)
def _ctc(x: TermInputs) -> torch.Tensor:
    """CTC on the (pseudo-)labels, weighted per utterance when target_weights is given."""
    blank = x.options["blank"]
    if x.target_weights is None:
        return ctc_loss(x.student_logits, x.lengths, x.targets, x.target_lengths, blank=blank)
    return weighted_ctc_loss(x.student_logits, x.lengths, x.targets, x.target_lengths, x.target_weights, blank=blank)


@register_term("kl", needs=["probs"], weight=0.5, options={"blank_mode": "drop", "blank_weight": 0.1, "topk": None})
def _kl(x: TermInputs) -> torch.Tensor:
    """Frame-level KL(teacher || student) at temperature T (kd_kl_loss)."""
    t = x.teacher
    return kd_kl_loss(
        x.student_logits,
        t.logits,
        x.lengths,
        x.temperature,
        teacher_topk=t.topk,
        topk=x.options["topk"],
        blank_mode=x.options["blank_mode"],
        blank=x.options["blank"],
        blank_weight=x.options["blank_weight"],
        teacher_weights=t.weights,
    )


@register_term("feature", needs=["hidden"])
def _feature(x: TermInputs) -> torch.Tensor:
    """FitNets: the sum over layer pairs of the MSE between projected student and teacher states."""
    if x.projector is None:
        raise ValueError("feature > 0 needs a FeatureProjector")
    pairs = x.projector(x.student_hidden, x.teacher.hidden)
    return sum((feature_mse_loss(s, t, x.lengths) for s, t in pairs), start=x.student_logits.new_zeros((), dtype=torch.float32))


@register_term("sequence", needs=["sequences"])
def _sequence(x: TermInputs) -> torch.Tensor:
    """CTC on the teacher's greedy transcripts (sequence-level KD)."""
    if x.teacher.sequences is None:
        raise ValueError("sequence > 0 needs sequence_targets (the teacher's transcripts)")
    targets, target_lengths = x.teacher.sequences
    return ctc_loss(x.student_logits, x.lengths, targets, target_lengths, blank=x.options["blank"])


@register_term("factorized", needs=["full"], options={"gloss_weight": 1.0})
def _factorized(x: TermInputs) -> torch.Tensor:
    """Factorized KD: blank/not-blank KL + gloss KL on every frame."""
    o = x.options
    return factorized_kd_loss(x.student_logits, _full(x), x.lengths, x.temperature, blank=o["blank"], gloss_weight=o["gloss_weight"])


@register_term("shift", needs=["full"], options={"shift_frames": 2})
def _shift(x: TermInputs) -> torch.Tensor:
    """Shift-tolerant frame KL: the best teacher frame within +-shift_frames."""
    return shift_tolerant_kd_loss(x.student_logits, _full(x), x.lengths, x.temperature, shift=x.options["shift_frames"])


@register_term("sampled", needs=["full"], options={"num_samples": 4})
def _sampled(x: TermInputs) -> torch.Tensor:
    """Sequence KD: CTC on transcripts sampled from the teacher."""
    o = x.options
    return sampled_sequence_kd_loss(
        x.student_logits, _full(x), x.lengths, num_samples=o["num_samples"], temperature=x.temperature, blank=o["blank"]
    )


@register_term("aligned", needs=["full"], options={"blank_mode": "drop"})
def _aligned(x: TermInputs) -> torch.Tensor:
    """Token-aligned KL: teacher at its spike, student at its own, per gloss."""
    o = x.options
    return aligned_kd_loss(
        x.student_logits, _full(x), x.lengths, x.targets, x.target_lengths, x.temperature, blank_mode=o["blank_mode"], blank=o["blank"]
    )


def _full(x: TermInputs) -> torch.Tensor:
    """The teacher's full T = 1 logits, or an error naming what is missing."""
    if x.teacher.full is None:
        raise ValueError("this KD term needs the teacher's full logits (an online teacher, not a top-k cache)")
    return x.teacher.full
