"""Distillation losses for CTC models: pure functions over tensors (torch only), and the table of
terms (:mod:`signdistill.losses.terms`) that :class:`DistillationLoss` weighs and sums.

>>> from signdistill.losses import kd_kl_loss, feature_mse_loss, ctc_loss, DistillationLoss
"""

from signdistill.losses.functional import (
    aligned_kd_loss,
    ctc_loss,
    ctc_spike_frames,
    factorized_kd_loss,
    feature_mse_loss,
    frame_mask,
    guided_ctc_loss,
    kd_kl_loss,
    sampled_sequence_kd_loss,
    shift_tolerant_kd_loss,
    teacher_log_probs,
)
from signdistill.losses.modules import DistillationLoss, FeatureProjector, LossOutput, weighted_ctc_loss
from signdistill.losses.schedules import (
    ConstantSchedule,
    CosineSchedule,
    LinearSchedule,
    PiecewiseSchedule,
    TemperatureSchedule,
    make_schedule,
)
from signdistill.losses.terms import TERMS, TeacherTargets, TermInputs, register_term, term_names, term_options

__all__ = [
    "aligned_kd_loss",
    "ctc_spike_frames",
    "ConstantSchedule",
    "CosineSchedule",
    "DistillationLoss",
    "FeatureProjector",
    "LinearSchedule",
    "LossOutput",
    "PiecewiseSchedule",
    "TemperatureSchedule",
    "ctc_loss",
    "factorized_kd_loss",
    "feature_mse_loss",
    "frame_mask",
    "guided_ctc_loss",
    "kd_kl_loss",
    "make_schedule",
    "sampled_sequence_kd_loss",
    "shift_tolerant_kd_loss",
    "teacher_log_probs",
    "TeacherTargets",
    "TermInputs",
    "TERMS",
    "register_term",
    "term_names",
    "term_options",
    "weighted_ctc_loss",
]
