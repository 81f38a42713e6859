"""The distillation section (teachers, loss weights, temperature schedules) and :class:`DistillRunConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.config import JsonDict

from signdistill.config.sections import RunConfig, _Section


class TeacherRef(_Section):
    """One teacher: a checkpoint folder and the weight of its posteriors."""

    checkpoint: Path = Field(description="A teacher checkpoint folder (e.g. runs/teacher/best).")
    weight: float = Field(1.0, gt=0, description="Weight of this teacher's posteriors.")


class ScheduleConfig(_Section):
    """A temperature schedule over epochs (1-based)."""

    kind: Literal["constant", "piecewise", "linear", "cosine"]
    value: float | None = Field(None, gt=0, description="constant: the temperature.")
    values: list[float] | None = Field(None, description="piecewise: temperature per segment.")
    boundaries: list[int] | None = Field(None, description="piecewise: last epoch of each segment but the final one.")
    start: float | None = Field(None, gt=0, description="linear/cosine: temperature at epoch 1.")
    end: float | None = Field(None, gt=0, description="linear/cosine: temperature at the last epoch.")
    epochs: int | None = Field(None, ge=1, description="linear/cosine: epochs to anneal over (default: all).")

    @model_validator(mode="after")
    def _fields_for_kind(self) -> ScheduleConfig:
        need = {"constant": ["value"], "piecewise": ["values", "boundaries"], "linear": ["start", "end"], "cosine": ["start", "end"]}
        missing = [f for f in need[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} schedule needs {missing}")
        if self.kind == "piecewise":
            assert self.values is not None and self.boundaries is not None
            if len(self.values) != len(self.boundaries) + 1:
                raise ValueError("piecewise: values needs exactly one more entry than boundaries")
            if any(v <= 0 for v in self.values):
                raise ValueError("piecewise: every temperature must be > 0")
            if self.boundaries != sorted(set(self.boundaries)) or (self.boundaries and self.boundaries[0] < 1):
                raise ValueError("piecewise: boundaries must be increasing epochs >= 1")
        return self


# A term that reads the teacher's full posteriors or hidden states, which a top-k cache does not hold.
_FULL: JsonDict = {"needs_full_teacher": True}


class LossWeights(_Section):
    """Weights of the loss components (all >= 0, not all zero).

    One field per term of the loss's table (``signdistill.losses.terms``; a test keeps the two equal).
    """

    kl: float = Field(0.0, ge=0, description="Frame-level KL(teacher || student).")
    ctc: float = Field(0.0, ge=0, description="CTC on the ground truth.")
    feature: float = Field(0.0, ge=0, description="FitNets feature MSE.", json_schema_extra=_FULL)
    sequence: float = Field(0.0, ge=0, description="CTC on the teacher's greedy transcripts (sequence-level KD).")
    aligned: float = Field(
        0.0, ge=0, description="Token-aligned KL: teacher at its spike, student at its own spike, per gloss.", json_schema_extra=_FULL
    )
    factorized: float = Field(
        0.0,
        ge=0,
        description="Factorized KD: blank/not-blank KL + gloss KL on every frame (distill.gloss_weight).",
        json_schema_extra=_FULL,
    )
    shift: float = Field(
        0.0, ge=0, description="Shift-tolerant frame KL: best teacher frame within +-distill.shift_frames.", json_schema_extra=_FULL
    )
    sampled: float = Field(
        0.0, ge=0, description="Sequence KD: CTC on distill.num_samples transcripts sampled from the teacher.", json_schema_extra=_FULL
    )

    @model_validator(mode="after")
    def _not_all_zero(self) -> LossWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError(f"all loss weights are zero: give at least one of {', '.join(type(self).model_fields)} a weight > 0")
        return self

    def needing_full_teacher(self) -> list[str]:
        """The weighted terms that read the teacher's full posteriors or hidden states (no top-k cache)."""
        return [k for k, f in type(self).model_fields.items() if f.json_schema_extra == _FULL and getattr(self, k) > 0]


class UnlabeledConfig(_Section):
    """How the student learns from the recordings of ``data.unlabeled`` (docs/distillation.md)."""

    ratio: float = Field(
        1.0,
        ge=0,
        description="Unlabeled utterances per labelled one in each epoch, drawn anew every epoch (capped by what the "
        "manifest holds; 0: do not use them).",
    )
    pseudo_labels: bool = Field(
        True, description="Train the CTC term on the teacher's greedy transcript of each unlabeled utterance (hard pseudo-label)."
    )
    min_confidence: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Keep a pseudo-label only if the teacher's confidence (geometric mean of its top posterior over the "
        "frames where it emits a gloss) reaches this; the other utterances still get the label-free terms.",
    )
    pseudo_weight: float = Field(1.0, gt=0, description="Weight of a pseudo-labelled utterance in the CTC term (a labelled one: 1).")


class DistillSection(_Section):
    """How the student learns from its teacher(s)."""

    teachers: list[TeacherRef] = Field(
        default_factory=list,
        description="One or more frozen teachers (checkpoints); may be left out with a teacher_cache (e.g. from import-teacher).",
    )
    # The defaults are the package's default recipe (signdistill.recipes.RECOMMENDED_DISTILL; a test keeps them equal).
    loss: LossWeights = Field(
        default_factory=lambda: LossWeights(kl=0.0, ctc=0.5, feature=1.0, factorized=0.5),
        description="Component weights; default the `default` recipe: ctc 0.5 + feature 1.0 on feature_layers [[1, 1]] "
        "+ factorized 0.5 (docs/distillation.md).",
    )
    temperature: Annotated[float, Field(gt=0)] | ScheduleConfig = Field(1.0, description="A number > 0 or a schedule.")
    blank_mode: Literal["keep", "drop", "downweight"] = Field(
        "drop", description="keep the blank column; drop it and renormalize (default); or down-weight blank frames."
    )
    blank_weight: float = Field(0.1, ge=0, le=1, description="downweight: weight of frames the teacher labels blank.")
    topk: int | None = Field(None, ge=1, description="Keep the teacher's top-k classes per frame (renormalized).")
    shift_frames: int = Field(2, ge=0, le=8, description="loss.shift: frames of timing tolerance either side (memory grows with it).")
    gloss_weight: float = Field(1.0, ge=0, description="loss.factorized: weight of the gloss term against the blank/not-blank term.")
    num_samples: int = Field(4, ge=1, le=64, description="loss.sampled: transcripts sampled from the teacher per utterance and step.")
    feature_layers: list[tuple[int, int]] = Field(
        default_factory=lambda: [(1, 1)],
        description="(teacher layer, student layer) pairs, 1-based; default: first onto first.",
    )
    ctc_warmup_epochs: int = Field(0, ge=0, description="Epochs of CTC only before distillation starts.")
    kd_ramp_epochs: int = Field(0, ge=0, description="Epochs over which the KD weights ramp up linearly after warm-up.")
    kd_last_epoch: int | None = Field(
        None, ge=1, description="Last epoch with KD terms; CTC only afterwards (the student re-settles its own alignment)."
    )
    teacher_precision: Literal["fp32", "bf16", "int8", "auto"] = Field(
        "fp32",
        description="The online teacher's arithmetic: fp32; bf16 weights; int8 dynamic quantization of its LSTM and "
        "linear layers (CPU only: a cheaper step, the student within noise of an fp32 teacher's but leaning worse at "
        "14.7x, docs/benchmarks.md); auto: int8 on the CPU, fp32 on a GPU. Caches and pseudo-labels always use the "
        "teacher as trained.",
    )
    teacher_cache: Path | None = Field(
        None, description="Folder written by `signdistill cache-teacher`, or by `signdistill import-teacher` (another code base's teacher)."
    )
    unlabeled: UnlabeledConfig = Field(
        default_factory=UnlabeledConfig, description="Learning from data.unlabeled: ratio per epoch, pseudo-labels, confidence."
    )

    @field_validator("feature_layers")
    @classmethod
    def _one_based(cls, v: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for t, s in v:
            if t < 1 or s < 1:
                raise ValueError(f"layer numbers are 1-based; got ({t}, {s})")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> DistillSection:
        if not self.teachers and self.teacher_cache is None:
            raise ValueError(
                "give distill.teachers (checkpoint folders) or distill.teacher_cache (a folder from `signdistill cache-teacher` "
                "or `signdistill import-teacher`)"
            )
        if self.loss.feature > 0 and not self.feature_layers:
            raise ValueError("loss.feature > 0 needs feature_layers, e.g. [[2, 2], [4, 3]]")
        if self.teacher_cache is not None and self.loss.feature > 0:
            raise ValueError(
                "a teacher cache holds the teacher's top-k posteriors and transcripts, not its hidden states: set "
                "loss.feature to 0 (FitNets needs the online teacher) or remove teacher_cache"
            )
        return self


class DistillRunConfig(RunConfig):
    """A distillation run: ``signdistill distill --config FILE``."""

    distill: DistillSection

    @model_validator(mode="after")
    def _unlabeled_needs_manifest(self) -> DistillRunConfig:
        if self.data.unlabeled is None and self.distill.unlabeled != UnlabeledConfig():
            raise ValueError(
                "distill.unlabeled is set but data.unlabeled names no manifest of unlabeled recordings: add "
                "data.unlabeled: <manifest> or remove distill.unlabeled"
            )
        return self

    @model_validator(mode="after")
    def _cache_without_augmentation(self) -> DistillRunConfig:
        if self.distill.teacher_cache is not None and self.data.augment is not None:
            raise ValueError(
                "a teacher cache holds the teacher's outputs for the original frames; with data.augment the "
                "student sees other frames. Remove data.augment or distill.teacher_cache (use the online teacher)"
            )
        return self
