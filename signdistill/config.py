"""Run configuration: pydantic schemas loaded from YAML, with dotted overrides.

One YAML file describes one run. Loading uses ``yaml.safe_load`` (YAML never builds
objects or imports code) and every section forbids unknown keys, so a typo is an error
that suggests the closest valid key, not a silently ignored setting. Relative paths are
taken from the current working directory.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, overload

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from signdistill.errors import ConfigError

_C = TypeVar("_C", bound=BaseModel)


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


class ModelConfig(_Section):
    """The BiLSTM CTC model. A preset (teacher 5x384, student 4x256) fills unset fields."""

    preset: Literal["teacher", "student"] | None = Field(None, description="teacher or student.")
    layers: int | None = Field(None, ge=1, le=32, description="BiLSTM layers.")
    hidden: int | None = Field(None, ge=1, description="Hidden units per direction.")
    input_proj: int | None = Field(None, ge=0, description="Input projection width (0: none).")
    dropout: float | None = Field(None, ge=0.0, lt=1.0, description="Dropout between layers.")
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
        }


class OptimConfig(_Section):
    """AdamW with linear warm-up and a decay schedule."""

    lr: float = Field(1e-3, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = Field(100, ge=0, description="Linear warm-up, in optimizer steps.")
    schedule: Literal["cosine", "linear", "constant"] = Field("cosine", description="Decay after warm-up.")
    min_lr_ratio: float = Field(0.05, ge=0, le=1, description="Final lr as a fraction of lr.")
    grad_clip: float | None = Field(5.0, gt=0, description="Max global grad norm (null: off).")
    accumulate: int = Field(1, ge=1, description="Batches per optimizer step.")


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

    seed: int = 0
    run_dir: Path = Field(description="Folder for checkpoints, metrics and the resolved config.")
    data: DataConfig
    model: ModelConfig
    optim: OptimConfig = OptimConfig()
    train: TrainConfig
    guide: GuideConfig | None = Field(None, description="Train with guided CTC towards a guide model's spike timings (for teachers).")


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


class LossWeights(_Section):
    """Weights of the loss components (all >= 0, not all zero)."""

    kl: float = Field(0.0, ge=0, description="Frame-level KL(teacher || student).")
    ctc: float = Field(0.0, ge=0, description="CTC on the ground truth.")
    feature: float = Field(0.0, ge=0, description="FitNets feature MSE.")
    sequence: float = Field(0.0, ge=0, description="CTC on the teacher's greedy transcripts (sequence-level KD).")
    aligned: float = Field(0.0, ge=0, description="Token-aligned KL: teacher at its spike, student at its own spike, per gloss.")
    factorized: float = Field(0.0, ge=0, description="Factorized KD: blank/not-blank KL + gloss KL on every frame (distill.gloss_weight).")
    shift: float = Field(0.0, ge=0, description="Shift-tolerant frame KL: best teacher frame within +-distill.shift_frames.")
    sampled: float = Field(0.0, ge=0, description="Sequence KD: CTC on distill.num_samples transcripts sampled from the teacher.")

    @model_validator(mode="after")
    def _not_all_zero(self) -> LossWeights:
        if self.kl + self.ctc + self.feature + self.sequence + self.aligned + self.factorized + self.shift + self.sampled <= 0:
            raise ValueError(
                "all loss weights are zero: give at least one of kl, ctc, feature, sequence, aligned, factorized, shift, "
                "sampled a weight > 0"
            )
        return self


class DistillSection(_Section):
    """How the student learns from its teacher(s)."""

    teachers: list[TeacherRef] = Field(min_length=1, description="One or more frozen teachers.")
    loss: LossWeights = Field(
        default_factory=lambda: LossWeights(kl=0.0, ctc=0.5, feature=1.0),
        description="Component weights; default ctc 0.5 + feature 1.0 on feature_layers [[1, 1]] (docs/distillation.md).",
    )
    temperature: Annotated[float, Field(gt=0)] | ScheduleConfig = Field(2.0, description="A number > 0 or a schedule.")
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
    teacher_cache: Path | None = Field(None, description="Folder written by `signdistill cache-teacher`.")

    @field_validator("feature_layers")
    @classmethod
    def _one_based(cls, v: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for t, s in v:
            if t < 1 or s < 1:
                raise ValueError(f"layer numbers are 1-based; got ({t}, {s})")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> DistillSection:
        if self.loss.feature > 0 and not self.feature_layers:
            raise ValueError("loss.feature > 0 needs feature_layers, e.g. [[2, 2], [4, 3]]")
        full = [k for k in ("feature", "aligned", "factorized", "shift", "sampled") if getattr(self.loss, k) > 0]
        if self.teacher_cache is not None and full:
            raise ValueError(
                "a teacher cache holds top-k outputs only, not hidden states or full posteriors: "
                f"set loss.{', loss.'.join(full)} to 0 or remove teacher_cache"
            )
        return self


class DistillRunConfig(RunConfig):
    """A distillation run: ``signdistill distill --config FILE``."""

    distill: DistillSection

    @model_validator(mode="after")
    def _cache_without_augmentation(self) -> DistillRunConfig:
        if self.distill.teacher_cache is not None and self.data.augment is not None:
            raise ValueError(
                "a teacher cache holds the teacher's outputs for the original frames; with data.augment the "
                "student sees other frames. Remove data.augment or distill.teacher_cache (use the online teacher)"
            )
        return self


class CompareTeacher(_Section):
    """The teacher of a comparison: a checkpoint folder, or a model that `compare` trains once."""

    checkpoint: Path | None = Field(None, description="A trained teacher checkpoint folder (e.g. runs/teacher/best).")
    model: ModelConfig | None = Field(None, description="Or: the teacher's model, trained once under OUT/teacher and reused.")
    epochs: int | None = Field(None, ge=1, description="Epochs for the teacher `compare` trains (default: the comparison's epochs).")
    seed: int = Field(0, description="Seed of the teacher `compare` trains.")

    @model_validator(mode="after")
    def _one_source(self) -> CompareTeacher:
        if (self.checkpoint is None) == (self.model is None):
            raise ValueError("give the teacher a checkpoint folder (teacher.checkpoint) or a model to train (teacher.model), not both")
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
    beam_width: int = Field(10, ge=1, description="Beam width.")


class CompareTrain(_Section):
    """Training settings shared by every run of a comparison."""

    early_stopping_patience: int = Field(0, ge=0, description="Epochs without dev WER gain before stopping (0: off).")
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    device: str = Field("cpu", description="cpu (runs go in parallel, one thread each), cuda or auto.")


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
    bootstrap: int = Field(2000, ge=100, description="Bootstrap replicates for the intervals.")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Interval level.")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: int | list[int]) -> int | list[int]:
        if isinstance(v, int) and v < 1:
            raise ValueError(f"seeds must be >= 1 (got {v})")
        if isinstance(v, list) and (not v or len(set(v)) != len(v) or min(v) < 0):
            raise ValueError(f"seeds must be a non-empty list of distinct integers >= 0 (got {v})")
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

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


# ---------------------------------------------------------------------------------------


def _field_paths(schema: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, f in schema.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        ann = f.annotation
        for cand in (ann, *getattr(ann, "__args__", ())):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                out.extend(_field_paths(cand, path + "."))
    return out


def _suggest(bad: str, schema: type[BaseModel]) -> str:
    valid = _field_paths(schema)
    close = difflib.get_close_matches(bad, valid, n=1, cutoff=0.6)
    if not close:
        prefix = bad.rsplit(".", 1)[0] + "." if "." in bad else ""
        siblings = [v for v in valid if v.startswith(prefix) and "." not in v[len(prefix) :]]
        return f" Valid keys here: {', '.join(siblings[:12])}."
    return f" Did you mean {close[0]!r}?"


# pydantic names the member of a union it tried (``constrained-float``, ``function-after[...]``,
# ``int``, ``list[int]``) in an error's location; those are not keys the user wrote.
_UNION_TAG = re.compile(r"^(constrained-\w+|function-\w+\[.*\]|[a-z-]+\[.*\]|int|float|str|bool|none|[A-Z]\w*)$")
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _loc(parts: tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _got(err: dict[str, Any]) -> str:
    got = err.get("input")
    return "" if isinstance(got, dict) or "input" not in err or "got" in str(err["msg"]) else f" (got {got!r})"


def _wanted(err: dict[str, Any]) -> str:
    """What a type error asks for: ``a valid integer``, ``a mapping of ScheduleConfig fields``."""
    msg = str(err["msg"]).removeprefix("Input should be ")
    if err["type"] == "model_type":
        return f"a mapping of {(err.get('ctx') or {}).get('class_name', 'fields')} fields"
    return msg.split(",")[0] if err["type"].endswith("_parsing") else msg


def _message(err: dict[str, Any], loc: str) -> str:
    """One validation error in the package's words: ``distill.temperature must be > 0 (got 0)``."""
    kind, ctx, msg = err["type"], err.get("ctx") or {}, str(err["msg"])
    subject = loc or "the configuration"
    if kind in _BOUNDS:
        limit = next(iter(ctx.values()), "?")
        return f"{subject} must be {_BOUNDS[kind]} {_num(limit)}{_got(err)}."
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return f"{subject} needs at least {n} entr{'y' if n == 1 else 'ies'}{_got(err)}."
    if kind == "too_long":
        n = ctx.get("max_length")
        return f"{subject} takes at most {n} entr{'y' if n == 1 else 'ies'}{_got(err)}."
    if kind == "value_error":
        return f"{subject}: {msg.removeprefix('Value error, ')}{_got(err)}."
    if kind == "assertion_error":
        return f"{subject}: {msg.removeprefix('Assertion failed, ')}{_got(err)}."
    if msg.startswith("Input should be "):
        return f"{subject} must be {_wanted(err)}{_got(err)}."
    return f"{subject}: {msg}{_got(err)}."


def _format_errors(exc: ValidationError, source: str, schema: type[BaseModel]) -> str:
    parts: list[str] = []
    # Errors from the members of one union (e.g. temperature: a number or a schedule) come
    # together: report the member whose constraint failed, or one line listing what is accepted.
    unions: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for details in exc.errors():
        err: dict[str, Any] = dict(details)
        raw = err["loc"]
        tag_at = next((i for i, p in enumerate(raw) if isinstance(p, str) and _UNION_TAG.match(p)), None)
        loc = _loc(tuple(p for p in raw if not (isinstance(p, str) and _UNION_TAG.match(p))))
        if tag_at is not None:
            unions.setdefault(_loc(raw[:tag_at]), []).append((loc, err))
            continue
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {loc!r}.{_suggest(loc, schema)}")
        elif err["type"] == "missing":
            parts.append(f"missing required field {loc!r}.")
        else:
            parts.append(_message(err, loc))
    for where, errs in unions.items():
        mismatch = [e for _, e in errs if e["type"].endswith("_type") or e["type"].endswith("_parsing")]
        real = [(loc, e) for loc, e in errs if e not in mismatch]
        if real:
            parts.extend(_message(e, loc) if e["type"] != "extra_forbidden" else f"unknown key {loc!r}." for loc, e in real)
        else:
            wanted = ", or ".join(dict.fromkeys(_wanted(e) for e in mismatch))
            parts.append(f"{where} must be {wanted}{_got(mismatch[0])}.")
    return f"{source}: invalid configuration: " + " ".join(parts) + " Fix the file or the --set override and run again."


def _apply_override(data: dict, item: str, source: str) -> None:
    if "=" not in item:
        raise ConfigError(f"Override {item!r} is not of the form key.path=value (e.g. optim.lr=3e-4).")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    node = data
    parts = key.strip().split(".")
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {} if node.get(p) is None else node[p]
            if not isinstance(node[p], dict):
                raise ConfigError(f"Override {item!r}: {p!r} in {source} is not a section.")
        node = node[p]
    node[parts[-1]] = value


@overload
def load_config(
    path: str | os.PathLike[str] | None, overrides: list[str] | None = None, schema: None = None, *, data: dict | None = None
) -> RunConfig | CompareConfig: ...


@overload
def load_config(path: str | os.PathLike[str] | None, overrides: list[str] | None, schema: type[_C], *, data: dict | None = None) -> _C: ...


@overload
def load_config(path: str | os.PathLike[str] | None, *, schema: type[_C], data: dict | None = None) -> _C: ...


def load_config(
    path: str | os.PathLike[str] | None,
    overrides: list[str] | None = None,
    schema: type[BaseModel] | None = None,
    *,
    data: dict | None = None,
) -> BaseModel:
    """Load and validate a YAML config, applying ``key.path=value`` overrides first.

    Without ``schema`` the kind of config is read from its sections, so every file a
    command accepts loads here too: a ``distill`` section makes a :class:`DistillRunConfig`
    (``distill``, ``cache-teacher``), ``teacher`` plus ``student`` a :class:`CompareConfig`
    (``compare``), anything else a :class:`RunConfig` (``train-teacher``).

    Raises:
        ConfigError: naming the file and field, with the closest valid key for typos.
    """
    source = str(path) if path is not None else "<config>"
    if data is None:
        if path is None:
            raise ConfigError("No configuration given: pass --config FILE.")
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"Config file {p} does not exist. Start from one in examples/configs/.")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f", line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{p}{line}: not valid YAML ({getattr(exc, 'problem', exc)}). Check indentation and colons.") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p} is not UTF-8 text.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}.")
    data = yaml.safe_load(yaml.safe_dump(data))  # deep copy of plain data
    for item in overrides or []:
        _apply_override(data, item, source)
    if schema is None:
        schema = DistillRunConfig if "distill" in data else CompareConfig if {"teacher", "student"} <= set(data) else RunConfig
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, schema)) from None


def dump_config(cfg: BaseModel) -> str:
    """The resolved config as YAML (what a run saves beside its outputs)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def reference_markdown() -> str:
    """The configuration reference (docs/configuration.md), generated from the schemas."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- generated by `python -m signdistill.config > docs/configuration.md`; a test keeps it current -->",
        "",
        "A run config is one YAML file. `train-teacher` reads a `RunConfig`; `distill` and",
        "`cache-teacher` read a `DistillRunConfig` (a `RunConfig` plus a `distill` section).",
        "Unknown keys are errors. Relative paths are taken from the current directory.",
        "Override any field with `--set section.field=value` (the value is parsed as YAML).",
        "",
    ]
    sections: list[tuple[str, type[BaseModel]]] = [
        ("top level", RunConfig),
        ("data", DataConfig),
        ("data.augment", AugmentConfig),
        ("model", ModelConfig),
        ("optim", OptimConfig),
        ("train", TrainConfig),
        ("guide", GuideConfig),
        ("distill", DistillSection),
        ("distill.teachers[]", TeacherRef),
        ("distill.loss", LossWeights),
        ("distill.temperature (a schedule)", ScheduleConfig),
        ("compare (signdistill compare --config FILE)", CompareConfig),
        ("compare: teacher", CompareTeacher),
        ("compare: recipes[] (inline)", CompareRecipe),
        ("compare: train", CompareTrain),
        ("compare: lm", CompareLM),
    ]
    for title, schema in sections:
        lines += [
            f"## `{title}`",
            "",
            (schema.__doc__ or "").strip().splitlines()[0],
            "",
            "| field | type | default | description |",
            "| --- | --- | --- | --- |",
        ]
        for name, f in schema.model_fields.items():
            if schema is RunConfig and name in ("data", "model", "optim", "train", "guide"):
                continue
            if schema is CompareConfig and name in ("teacher", "train", "lm"):
                continue
            ann = str(f.annotation).replace("typing.", "").replace("pathlib.", "").replace("<class '", "").replace("'>", "")
            ann = ann.replace("signdistill.config.", "").replace("__main__.", "")
            ann = re.sub(r"Union\[Annotated\[float, FieldInfo\(.*?\)\], (\w+)\]", r"float > 0 or \1", ann).replace("|", "or")
            default = "required" if f.is_required() else repr(f.default if f.default_factory is None else f.default_factory())  # type: ignore[call-arg]
            default = default.replace("|", "or")
            lines.append(f"| `{name}` | {ann} | {default} | {f.description or ''} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown())
