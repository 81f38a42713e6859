"""The sections of a training run: data, model, optim, train, guide, and :class:`RunConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class AugmentConfig(_Section):
    """Temporal augmentation of training utterances (off unless this section is given)."""

    speed: tuple[float, float] = Field((0.9, 1.1), description="Speed perturbation range (resampling factor).")
    frame_drop: float = Field(0.0, ge=0, lt=0.5, description="Probability of dropping each frame.")
    noise: float = Field(0.0, ge=0, description="Std of Gaussian noise added to normalized features.")

    @field_validator("speed")
    @classmethod
    def _speed(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1] <= 4:
            raise ValueError(f"speed must be (min, max) with 0 < min <= max <= 4; got {v}")
        return v


class DataConfig(_Section):
    """Where the data is and how it is batched."""

    train: Path = Field(description="Training manifest (JSONL).")
    dev: Path = Field(description="Development manifest, used for early stopping and best/.")
    test: Path | None = Field(None, description="Optional test manifest, scored after training.")
    batch_size: int = Field(16, ge=1, description="Utterances per batch.")
    eval_batch_size: int = Field(32, ge=1, description="Utterances per batch when evaluating.")
    bucket: bool = Field(True, description="Group utterances of similar length into batches.")
    augment: AugmentConfig | None = Field(None, description="Temporal augmentation of the training split (default: off).")
    unlabeled: Path | None = Field(
        None,
        description="distill only: a manifest of recordings without glosses (a gloss field, if any, is ignored). The student "
        "learns from the teacher on them (distill.unlabeled); vocabulary and normalizer stay those of `train`.",
    )


class ModelConfig(_Section):
    """The BiLSTM CTC model. A preset (teacher 5x384, student 4x256) fills unset fields."""

    preset: Literal["teacher", "student"] | None = Field(None, description="teacher or student.")
    layers: int | None = Field(None, ge=1, le=32, description="BiLSTM layers.")
    hidden: int | None = Field(None, ge=1, description="Hidden units per direction.")
    input_proj: int | None = Field(None, ge=0, description="Input projection width (0: none).")
    dropout: float | None = Field(None, ge=0.0, lt=1.0, description="Dropout between layers.")
    temporal_stride: Literal[1, 2, 4] = Field(
        1, description="Subsample time by 2 or 4 before the BiLSTM (K5-P2 convolution + pooling blocks; docs/models.md)."
    )
    output_bias: Literal["zero", "prior"] = Field(
        "prior",
        description=(
            "Initial output bias: log of the blank/gloss frame priors of the training set (default; skips the "
            "all-blank plateau, docs/benchmarks.md), or zero (PyTorch's init)."
        ),
    )

    @model_validator(mode="after")
    def _preset_or_sizes(self) -> ModelConfig:
        if self.preset is None and (self.layers is None or self.hidden is None):
            raise ValueError("set model.preset (teacher or student) or both model.layers and model.hidden")
        return self

    def build_kwargs(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "layers": self.layers,
            "hidden": self.hidden,
            "input_proj": self.input_proj,
            "dropout": self.dropout,
            "temporal_stride": self.temporal_stride,
        }


class OptimConfig(_Section):
    """AdamW with linear warm-up and a decay schedule."""

    lr: float = Field(1e-3, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = Field((0.9, 0.98), description="AdamW's (beta1, beta2), each in [0, 1).")
    warmup_steps: int = Field(100, ge=0, description="Linear warm-up, in optimizer steps.")
    schedule: Literal["cosine", "linear", "constant"] = Field("cosine", description="Decay after warm-up.")
    min_lr_ratio: float = Field(0.05, ge=0, le=1, description="Final lr as a fraction of lr.")
    grad_clip: float | None = Field(5.0, gt=0, description="Max global grad norm (null: off).")
    accumulate: int = Field(1, ge=1, description="Batches per optimizer step.")

    @field_validator("betas")
    @classmethod
    def _betas(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in v):  # AdamW raises a bare ValueError (a traceback) at the first step otherwise
            raise ValueError(f"betas must be two numbers in [0, 1), e.g. [0.9, 0.98]; got {list(v)}")
        return v


class TrainConfig(_Section):
    """The training loop."""

    epochs: int = Field(ge=1, description="Passes over the training set.")
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="fp32; bf16 autocast (CPU or CUDA); fp16 autocast + GradScaler (CUDA)."
    )
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N.")
    early_stopping_patience: int = Field(0, ge=0, description="Epochs without dev WER gain before stopping (0: off).")
    log_every_steps: int = Field(20, ge=1)
    tensorboard: bool = Field(True, description="Also log to TensorBoard when it is installed.")
    progress: bool = Field(True, description="Show a progress bar.")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (null: torch's default).")
    activation_checkpointing: bool = Field(
        False, description="Recompute each BiLSTM layer in the backward pass: less memory, a second forward (docs/models.md)."
    )
    collapse_patience: int = Field(
        3, ge=0, description="Stop when the dev set decodes to blank only this many evaluations in a row (0: never)."
    )


class GuideConfig(_Section):
    """Guided CTC: pull this model's CTC spikes to where a guide model's spikes are."""

    checkpoint: Path = Field(description="Guide checkpoint, typically the baseline student (runs/student/best).")
    weight: float = Field(1.0, gt=0, description="Weight of the guided-CTC term.")


class RunConfig(_Section):
    """A training run: ``signdistill train-teacher --config FILE``."""

    seed: int = Field(0, ge=0, description="Random seed (>= 0): the same seed gives the same run.")
    run_dir: Path = Field(description="Folder for checkpoints, metrics and the resolved config.")
    data: DataConfig
    model: ModelConfig
    optim: OptimConfig = OptimConfig()
    train: TrainConfig
    guide: GuideConfig | None = Field(None, description="Train with guided CTC towards a guide model's spike timings (for teachers).")
