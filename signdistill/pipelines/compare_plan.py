"""`signdistill compare`'s plan: every run a comparison needs, its config validated before anything trains.

Per recipe (the CTC-only baseline first), seed and tuning point one :class:`Job` with its own
run folder ``OUT/runs/<recipe>/seed<N>[-t<point>]``; an existing folder that holds other
settings is refused. :mod:`signdistill.pipelines.compare` runs the plan.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from signdistill.config import CompareConfig, CompareRecipe, DistillRunConfig, RunConfig, _apply_override, dump_config, load_config
from signdistill.errors import ConfigError
from signdistill.recipes import BASELINE, resolve_recipe


@dataclass
class Job:
    """One training run of the comparison (or the teacher)."""

    name: str  # display name, e.g. "default seed 1 [optim.lr=0.01]"
    recipe: str
    seed: int
    point: int
    config: dict[str, Any]
    distill: bool
    threads: int = 1
    lm: dict[str, Any] | None = None
    manifests: dict[str, str] = field(default_factory=dict)


# -- planning ------------------------------------------------------------------------------


def _same_run(previous: dict[str, Any], current: dict[str, Any]) -> bool:
    """Same settings, up to those that cannot change a result (run_dir.NO_EFFECT_SETTINGS)."""
    from signdistill.training.run_dir import differing_settings

    return not differing_settings(previous, current, resuming=False)


def _slug(name: str) -> str:
    """The run-folder name of a recipe (lower case, safe characters)."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name.lower()).strip("-.") or "recipe"


def _recipe_table(cfg: CompareConfig, epochs: int, teacher_layers: int, student_layers: int) -> dict[str, dict[str, Any] | None]:
    """Recipe name -> its distill section (None for the baseline), in table order, baseline first."""
    out: dict[str, dict[str, Any] | None] = {BASELINE: None}
    for item in cfg.recipes:
        base: str | None
        extra: dict[str, Any]
        if isinstance(item, str):
            name, base, extra = item, item, {}
        else:
            assert isinstance(item, CompareRecipe)
            name, base, extra = item.name, item.base, item.distill
        if name in out and name != BASELINE:
            raise ConfigError(f"recipes: {name!r} is listed twice; give inline recipes unique names.")
        if name == BASELINE and (base != BASELINE or extra):
            raise ConfigError(f"recipes: the name {BASELINE!r} is reserved for the CTC-only baseline; rename the inline recipe.")
        if "teachers" in extra or "teacher_cache" in extra:
            raise ConfigError(f"recipes: {name!r} sets distill.teachers/teacher_cache; the comparison's teacher is set by `teacher:`.")
        section = (
            resolve_recipe(base, epochs=epochs, teacher_layers=teacher_layers, student_layers=student_layers)
            if base
            else {"feature_layers": []}
        )
        if section is None and extra:
            section = {"feature_layers": []}
        if section is not None:
            section = _deep_merge(section, extra)
        if name != BASELINE and section is None:
            raise ConfigError(f"recipes: {name!r} has no distillation terms; it would repeat the baseline.")
        out[name] = section
    slugs: dict[str, str] = {}
    for name in out:
        other = slugs.setdefault(_slug(name), name)
        if other != name:
            raise ConfigError(f"recipes: {name!r} and {other!r} would share the run folder runs/{_slug(name)}; rename one of them.")
    return out


def _deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def tuning_points(tune: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of the tuning grid (one empty point when nothing is tuned)."""
    keys = list(tune)
    return [dict(zip(keys, values)) for values in itertools.product(*(tune[k] for k in keys))] or [{}]


def _point_id(point: dict[str, Any]) -> str:
    """A short, stable folder suffix for a tuning point (adding or reordering grid values keeps it)."""
    import hashlib

    return "t" + hashlib.sha1(json.dumps(point, sort_keys=True).encode()).hexdigest()[:8]


def point_label(point: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in point.items())


def _base_run(cfg: CompareConfig, run_dir: Path, model: dict[str, Any], epochs: int, seed: int, threads: int) -> dict[str, Any]:
    """A fresh plain-data run config (nothing shared between runs: tuning overrides edit it in place)."""
    return {
        "seed": seed,
        "run_dir": str(run_dir),
        "data": cfg.data.model_dump(mode="json"),
        "model": copy.deepcopy(model),
        "optim": cfg.optim.model_dump(mode="json"),
        "train": {
            "epochs": epochs,
            "threads": threads,
            "progress": False,
            "tensorboard": False,
            "collapse_patience": 0,
            **cfg.train.model_dump(mode="json"),
        },
    }


def _layers(model: dict[str, Any]) -> int:
    from signdistill.models import resolve_spec

    return resolve_spec(1, 2, **{k: model.get(k) for k in ("preset", "layers", "hidden", "input_proj", "dropout")}).layers


def _teacher_layers(cfg: CompareConfig) -> int:
    if cfg.teacher.model is not None:
        return _layers(cfg.teacher.model.model_dump())
    if cfg.teacher.cache is not None:  # no hidden layers to map (FitNets recipes are refused with a cache)
        return _layers(cfg.student.model_dump())
    from signdistill.checkpoint import load_checkpoint

    return len(load_checkpoint(cfg.teacher.checkpoint).model.hidden_sizes)  # type: ignore[arg-type]


def _refuse_online_recipes(recipes: dict[str, dict[str, Any] | None], cache: Path) -> None:
    """With a teacher cache, a recipe that needs the online teacher (FitNets: its hidden states) is refused up front."""
    from pydantic import ValidationError

    from signdistill.config.distill import DistillSection, LossWeights

    for name, section in recipes.items():
        if section is None:
            continue
        try:
            default = DistillSection.model_fields["loss"].get_default(call_default_factory=True)
            loss = LossWeights.model_validate(section["loss"]) if "loss" in section else default
        except ValidationError:
            continue  # a mistake of the recipe's own: the run's validation names it
        if loss.feature > 0:
            raise ConfigError(
                f"compare: the recipe {name!r} needs the online teacher (loss.feature {loss.feature:g}: FitNets reads the "
                f"teacher's hidden states), and teacher.cache {cache} holds only its outputs. Use a recipe without FitNets, "
                "e.g. `factorized`, `frame-kl-keep` or an inline one such as {name: mine, distill: {loss: {ctc: 0.5, "
                "factorized: 0.5}}} (`signdistill compare --list-recipes`), or give the teacher as a checkpoint."
            )


@dataclass
class Plan:
    out: Path
    teacher_job: Job | None
    teacher_checkpoint: Path | None  # None: the teacher is a cache (teacher_cache)
    recipes: dict[str, dict[str, Any] | None]
    points: list[dict[str, Any]]
    seeds: list[int]
    jobs: list[Job]
    teacher_cache: Path | None = None


def _validate_job(job: Job) -> None:
    """Validate a run's config in place; refuse a run folder that holds other settings."""
    schema = DistillRunConfig if job.distill else RunConfig
    try:
        validated = load_config(None, [], schema, data=job.config)
    except ConfigError as exc:
        why = str(exc).replace("<config>: invalid configuration: ", "")
        raise ConfigError(
            f"compare: the run {job.name!r} would not validate: {why} (check `tune:`, the recipe's `distill:` and "
            "`student:` in the comparison config)"
        ) from None
    job.config = validated.model_dump(mode="json")
    saved = Path(job.config["run_dir"]) / "config.yaml"
    if saved.is_file() and saved.read_text(encoding="utf-8") != dump_config(validated):
        previous = yaml.safe_load(saved.read_text(encoding="utf-8"))
        from signdistill.training.run_dir import differing_settings

        try:
            changed = differing_settings(schema.model_validate(previous).model_dump(mode="json"), job.config, resuming=False)
        except Exception:  # noqa: BLE001 - unreadable: different
            changed = ["(its config.yaml does not validate)"]
        if changed:
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            raise ConfigError(
                f"compare: {saved.parent} holds a run with other settings than this comparison now asks for "
                f"({job.name}: {shown} differ). Nothing was changed. Use a new --out folder, or delete {saved.parent} yourself."
            )


def plan(cfg: CompareConfig, out: Path) -> Plan:
    """Every run the comparison needs, each config validated before anything is trained."""
    student = cfg.student.model_dump()
    recipes = _recipe_table(cfg, cfg.epochs, _teacher_layers(cfg), _layers(student))
    points = tuning_points(cfg.tune)
    lm = cfg.lm.model_dump(mode="json") if cfg.lm is not None else None
    manifests = {"dev": str(cfg.data.dev), "test": str(cfg.data.test)}
    if cfg.teacher.cache is not None:
        _refuse_online_recipes(recipes, cfg.teacher.cache)
    teacher_job = None
    teacher_ckpt: Path | None = None
    if cfg.teacher.model is not None:
        t_dir = out / "teacher"
        # One thread, like every run: two threads on a core another process holds run 10-20x slower.
        t_cfg = _base_run(cfg, t_dir, cfg.teacher.model.model_dump(), cfg.teacher.epochs or cfg.epochs, cfg.teacher.seed, 1)
        t_cfg["optim"].update(copy.deepcopy(cfg.teacher.optim))  # validated with the run config below
        t_cfg["data"].pop("unlabeled", None)  # recordings without glosses teach only through a teacher
        teacher_job = Job("teacher", "teacher", cfg.teacher.seed, 0, t_cfg, False, 1, lm, manifests)
        teacher_ckpt = t_dir / "best"
    elif cfg.teacher.checkpoint is not None:
        teacher_ckpt = Path(cfg.teacher.checkpoint)
    # Every distilling run reads the same teacher: the checkpoint (online) or the cache (its stored outputs).
    online = {"teachers": [{"checkpoint": str(teacher_ckpt)}]}
    source = {"teacher_cache": str(cfg.teacher.cache)} if cfg.teacher.cache is not None else online
    job_list: list[Job] = []
    for name, section in recipes.items():
        for seed in cfg.seed_list():
            for i, point in enumerate(points):
                suffix = f"-{_point_id(point)}" if point else ""
                run_dir = out / "runs" / _slug(name) / f"seed{seed}{suffix}"
                c = _base_run(cfg, run_dir, student, cfg.epochs, seed, 1)
                if section is not None:
                    c["distill"] = {**copy.deepcopy(source), **section}
                else:
                    c["data"].pop("unlabeled", None)  # the CTC-only baseline cannot use recordings without glosses
                for key, value in point.items():
                    _apply_override(c, f"{key}={json.dumps(value)}", "tune")
                label = f" [{point_label(point)}]" if point else ""
                job_list.append(Job(f"{name} seed {seed}{label}", name, seed, i, c, section is not None, 1, lm, manifests))
    for job in ([teacher_job] if teacher_job else []) + job_list:
        _validate_job(job)
    return Plan(out, teacher_job, teacher_ckpt, recipes, points, cfg.seed_list(), job_list, cfg.teacher.cache)


def checkpoint_job(p: Plan, cfg: CompareConfig) -> Job:
    """A pseudo-run for a given teacher checkpoint, so its beam results are cached under OUT/teacher-eval."""
    run_dir = p.out / "teacher-eval"
    run_dir.mkdir(parents=True, exist_ok=True)
    best = run_dir / "best"
    assert p.teacher_checkpoint is not None, "a teacher cache has no model to score"
    target = Path(p.teacher_checkpoint).resolve()
    if best.is_symlink() and best.resolve() != target:
        best.unlink()  # our own link, to a teacher this comparison no longer uses
    if not best.is_symlink():
        best.symlink_to(target, target_is_directory=True)
    lm = cfg.lm.model_dump(mode="json") if cfg.lm else None
    return Job("teacher", "teacher", 0, 0, {"run_dir": str(run_dir)}, False, 1, lm, {"dev": str(cfg.data.dev), "test": str(cfg.data.test)})


def check_teacher_cache(cfg: CompareConfig) -> None:
    """teacher.cache is a teacher cache for this comparison's training split (vocabulary and utterances), before anything trains."""
    from safetensors import safe_open

    from signdistill.data import Vocabulary, read_manifest
    from signdistill.training.distill import CACHE_INDEX, is_teacher_cache

    cache = Path(cfg.teacher.cache)  # type: ignore[arg-type]
    make = f"Make one with `signdistill import-teacher ... --manifest {cfg.data.train} --out {cache}` (docs/teachers.md)"
    if not is_teacher_cache(cache):
        raise ConfigError(f"compare: teacher.cache {cache} is not a teacher cache (no readable {CACHE_INDEX}). {make}.")
    info = json.loads((cache / CACHE_INDEX).read_text(encoding="utf-8"))
    utts = read_manifest(cfg.data.train)
    if info["vocabulary"] != Vocabulary.build(u.glosses for u in utts).tokens:
        raise ConfigError(f"compare: teacher.cache {cache} was made for another vocabulary than data.train {cfg.data.train}'s. {make}.")
    cached: set[str] = set()
    for shard in info["shards"]:
        try:
            with safe_open(str(cache / shard), framework="pt") as f:
                cached |= {key.rsplit("/", 1)[0] for key in f.keys()}
        except Exception as exc:  # noqa: BLE001 - a missing or damaged shard: say which
            raise ConfigError(f"compare: teacher.cache {cache}: shard {shard} cannot be read ({exc}). {make}.") from None
    missing = [u.id for u in utts if u.id not in cached]
    if missing:
        raise ConfigError(
            f"compare: teacher.cache {cache} has no entry for {len(missing)} utterance(s) of data.train {cfg.data.train}, "
            f"e.g. {missing[:3]}. {make}."
        )
