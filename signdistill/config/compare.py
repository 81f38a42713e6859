"""The schema of ``signdistill compare --config FILE``: :class:`CompareConfig` and its sections."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from signdistill.config.sections import DataConfig, ModelConfig, OptimConfig, _Section
from signdistill.defaults import BEAM_WIDTH


class CompareTeacher(_Section):
    """The teacher of a comparison: a checkpoint folder, a model that `compare` trains once, or a teacher cache."""

    checkpoint: Path | None = Field(None, description="A trained teacher checkpoint folder (e.g. runs/teacher/best).")
    model: ModelConfig | None = Field(None, description="Or: the teacher's model, trained once under OUT/teacher and reused.")
    cache: Path | None = Field(
        None,
        description="Or: a teacher cache (`signdistill import-teacher`: a teacher from another code base, or `cache-teacher`); "
        "it holds the training split only, so the teacher is not scored, and FitNets recipes and data.augment cannot use it.",
    )
    epochs: int | None = Field(None, ge=1, description="Epochs for the teacher `compare` trains (default: the comparison's epochs).")
    seed: int = Field(0, ge=0, description="Seed of the teacher `compare` trains.")
    optim: dict[str, Any] = Field(
        default_factory=dict,
        description="Optimizer settings for the teacher `compare` trains that differ from the comparison's `optim:` "
        "(e.g. {lr: 3e-3}: the teacher at its own swept learning rate).",
    )

    @field_validator("optim")
    @classmethod
    def _optim(cls, v: dict[str, Any]) -> dict[str, Any]:
        fields = list(OptimConfig.model_fields)
        for key in v:
            if key not in fields:
                close = difflib.get_close_matches(key, fields, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"the fields are those of optim: {', '.join(fields)}"
                raise ValueError(f"unknown field {key!r} ({hint})")
        try:
            return OptimConfig.model_validate(v).model_dump(mode="json", include=set(v))
        except ValidationError as exc:
            e = exc.errors()[0]
            raise ValueError(f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e['input']!r})") from None

    @model_validator(mode="after")
    def _one_source(self) -> CompareTeacher:
        if sum(x is not None for x in (self.checkpoint, self.model, self.cache)) != 1:
            raise ValueError(
                "give the teacher exactly one of: a checkpoint folder (teacher.checkpoint), a model to train (teacher.model) "
                "or a teacher cache (teacher.cache, e.g. from `signdistill import-teacher`)"
            )
        if self.optim and self.model is None:
            raise ValueError(
                "teacher.optim applies to a teacher that `compare` trains (teacher.model); a checkpoint or a cache is already trained"
            )
        return self


class CompareRecipe(_Section):
    """An inline recipe: a name, optionally a named recipe to start from, and distill-section overrides."""

    name: str = Field(description="Row name in the table (must be unique).")
    base: str | None = Field(None, description="A named recipe to start from (`signdistill compare --list-recipes`).")
    distill: dict[str, Any] = Field(default_factory=dict, description="Fields of the distill section (loss, temperature, ...).")


class CompareLM(_Section):
    """Beam search with an n-gram LM; alpha/beta are tuned on dev for every model separately."""

    path: Path = Field(description="ARPA (or KenLM binary) gloss language model.")
    alphas: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0], description="LM weights tried on dev.")
    betas: list[float] = Field(default_factory=lambda: [0.0, 1.0, 2.0, 3.0], description="Word insertion bonuses tried on dev.")
    beam_width: int = Field(BEAM_WIDTH, ge=1, description="Beam width.")


class CompareTrain(_Section):
    """Training settings shared by every run of a comparison."""

    early_stopping_patience: int = Field(0, ge=0, description="Epochs without dev WER gain before stopping (0: off).")
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    device: str = Field("cpu", description="cpu (runs go in parallel, one thread each), cuda or auto.")


class CompareExecutor(_Section):
    """Where a comparison's runs execute: local processes, or one submitit job per run (locally or on SLURM)."""

    kind: Literal["local", "submitit-local", "slurm"] = Field(
        "local",
        description="local: processes on this machine, `--jobs` at a time; submitit-local: submitit's local executor (the SLURM "
        "code path without a cluster); slurm: one SLURM job per run (the `slurm` extra). `--executor` overrides.",
    )
    partition: str | None = Field(None, description="SLURM partition (slurm only).")
    account: str | None = Field(None, description="SLURM account (slurm only).")
    qos: str | None = Field(None, description="SLURM quality of service (slurm only).")
    gpus_per_job: int = Field(0, ge=0, description="GPUs per run (set train.device: cuda to use them).")
    cpus_per_job: int = Field(1, ge=1, description="CPUs per run (slurm; a CPU run trains on one thread).")
    mem_gb: float | None = Field(None, gt=0, description="Memory per run in GB (slurm; default: the partition's).")
    time_min: int = Field(240, ge=1, description="Time limit per job in minutes; a run that reaches it is requeued and resumes.")
    array_parallelism: int = Field(64, ge=1, description="Most jobs of one job array running at once (slurm).")
    setup: list[str] = Field(
        default_factory=list,
        description="Shell lines run before each SLURM job, e.g. ['source .venv/bin/activate'] (slurm only).",
    )


_TUNABLE = ("model.dropout", "model.output_bias", "data.batch_size", "data.augment")


class CompareConfig(_Section):
    """A comparison: ``signdistill compare --config FILE``: seeds x recipes (x tuning points), same budget for all."""

    out: Path = Field(Path("runs/compare"), description="Output folder (`--out` overrides); finished runs in it are reused.")
    data: DataConfig
    teacher: CompareTeacher
    student: ModelConfig = Field(description="The student every recipe trains (preset or layers/hidden/...).")
    recipes: list[str | CompareRecipe] = Field(
        default_factory=lambda: list[str | CompareRecipe](["ctc", "default"]),
        min_length=1,
        description="Named recipes or inline ones; `ctc` (the baseline) is always run.",
    )
    seeds: int | list[int] = Field(3, description="Number of seeds (0..N-1) or an explicit list.")
    epochs: int = Field(ge=1, description="Epochs for every student run.")
    optim: OptimConfig = OptimConfig()
    train: CompareTrain = CompareTrain()
    tune: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Grid every recipe gets equally, e.g. {optim.lr: [3e-3, 1e-2]}; per recipe the best point on dev (mean) is kept.",
    )
    lm: CompareLM | None = Field(None, description="Also score every model with LM beam search tuned on dev per model.")
    contrasts: list[tuple[str, str]] = Field(
        default_factory=list,
        description="Extra paired differences between two recipes, [recipe, reference] (recipe - reference), "
        "e.g. [[default-int8-teacher, default]]: same seeds, same interval and verdict as against ctc.",
    )
    bootstrap: int = Field(2000, ge=100, description="Bootstrap replicates for the intervals.")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Interval level.")
    executor: CompareExecutor = Field(
        default_factory=CompareExecutor, description="Where the runs execute (local processes, submitit-local or SLURM); docs/compare.md."
    )

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: int | list[int]) -> int | list[int]:
        if isinstance(v, int) and v < 1:
            raise ValueError(f"must be >= 1 (got {v})")
        if isinstance(v, list) and (not v or len(set(v)) != len(v) or min(v) < 0):
            raise ValueError(f"must be a non-empty list of distinct integers >= 0 (got {v})")
        return v

    @field_validator("tune")
    @classmethod
    def _tune(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"tune.{key} needs at least one value")
            # The student's size stays fixed: a verdict compares the same student with and without a teacher.
            tunable = (
                key.startswith(("optim.", "data.augment"))
                or key in _TUNABLE
                or (key.startswith("train.") and key not in ("train.device", "train.threads", "train.progress", "train.tensorboard"))
            )
            if not tunable:
                raise ValueError(
                    f"tune.{key}: only training settings can be tuned (optim.*, train.*, model.dropout, "
                    "model.output_bias, data.batch_size, data.augment), never the student's size"
                )
        return v

    @model_validator(mode="after")
    def _cache_needs_original_frames(self) -> CompareConfig:
        augment = self.data.augment is not None or any(k.startswith("data.augment") for k in self.tune)
        if self.teacher.cache is not None and augment:
            raise ValueError(
                "teacher.cache holds the teacher's outputs for the original frames; with data.augment (or tune: data.augment...) "
                "the students would see other frames. Remove data.augment from the comparison, or use a teacher checkpoint "
                "(teacher.checkpoint), whose outputs follow the augmented frames"
            )
        return self

    @field_validator("contrasts", mode="before")
    @classmethod
    def _contrasts_are_pairs(cls, v: Any) -> Any:
        if not isinstance(v, list):
            raise ValueError(f"must be a list of [recipe, reference] pairs, e.g. [[default-int8-teacher, default]] (got {v!r})")
        for i, pair in enumerate(v):
            if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(n, str) for n in pair)):
                raise ValueError(f"entry {i} must be a pair [recipe, reference] of recipe names (got {pair!r})")
        return v

    @model_validator(mode="after")
    def _contrasts_name_recipes(self) -> CompareConfig:
        names = {"ctc"} | {r if isinstance(r, str) else r.name for r in self.recipes}
        if len(set(self.contrasts)) != len(self.contrasts):
            twice = next(c for i, c in enumerate(self.contrasts) if c in self.contrasts[:i])
            raise ValueError(f"contrasts: [{twice[0]}, {twice[1]}] is listed twice; name each pair once")
        for i, (a, b) in enumerate(self.contrasts):
            unknown = [n for n in (a, b) if n not in names]
            if unknown:
                raise ValueError(f"contrasts[{i}]: {unknown[0]!r} is not a recipe of this comparison (recipes: {', '.join(sorted(names))})")
            if a == b:
                raise ValueError(f"contrasts[{i}]: a recipe against itself ({a!r}); name two different recipes")
        return self

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)
