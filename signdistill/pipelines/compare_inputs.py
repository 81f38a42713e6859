"""What `compare` checks before anything is written or trained: the config's own mistakes, then every file it names."""

from __future__ import annotations

from pathlib import Path

from signdistill.config import CompareConfig
from signdistill.errors import ConfigError, DataError
from signdistill.pipelines.compare_plan import check_teacher_cache


def check_inputs(cfg: CompareConfig) -> None:
    """The config's own mistakes first, then the files it names: all before anything is written."""
    from signdistill.recipes import get_recipe

    for i, item in enumerate(cfg.recipes):
        name = item if isinstance(item, str) else item.base
        if name is not None:
            try:
                get_recipe(name)
            except ConfigError as exc:
                where = f"recipes[{i}]" if isinstance(item, str) else f"recipes[{i}].base"
                raise ConfigError(f"compare: {where}: {exc}") from None
    if cfg.data.test is None:
        raise ConfigError("compare: data.test is required (the verdicts are computed on the test split).")
    for split in ("train", "dev", "test"):
        manifest = getattr(cfg.data, split)
        if manifest is not None and not Path(manifest).is_file():
            raise ConfigError(
                f"compare: data.{split} {manifest} does not exist. Fix the path in the config "
                "(relative paths are read from the folder you run compare in), or make data with `signdistill data synth` "
                "(each example config's first lines give the exact command)."
            )
    if cfg.data.unlabeled is not None:
        _check_unlabeled(cfg, cfg.data.unlabeled)
    if cfg.lm is not None:
        if not Path(cfg.lm.path).is_file():
            raise ConfigError(
                f"compare: lm.path {cfg.lm.path} does not exist. Build it with "
                f"`signdistill lm build --manifest {cfg.data.train} --out {cfg.lm.path}`."
            )
        from signdistill.decoding.lm import check_lm_file

        check_lm_file(cfg.lm.path)  # before hours of training, not after
    if cfg.teacher.checkpoint is not None and not Path(cfg.teacher.checkpoint).is_dir():
        raise ConfigError(
            f"compare: teacher.checkpoint {cfg.teacher.checkpoint} is not a checkpoint folder. Point it at a trained "
            "teacher's best/ folder (signdistill train-teacher), or replace it with teacher.model (and teacher.epochs) "
            "to let compare train one."
        )
    if cfg.teacher.cache is not None:
        check_teacher_cache(cfg)


def _check_unlabeled(cfg: CompareConfig, unlabeled: Path) -> None:
    """data.unlabeled read as the distilled runs will read it, before the teacher and CTC-only runs train for hours."""
    from signdistill.data import load_features, read_manifest
    from signdistill.data.unlabeled import read_unlabeled_manifest, refuse_held_out_recordings

    try:
        train = read_manifest(cfg.data.train)
        held_out = {f"data.{k}": read_manifest(getattr(cfg.data, k)) for k in ("dev", "test") if getattr(cfg.data, k) is not None}
    except DataError as exc:
        raise ConfigError(f"compare: {exc} Nothing was trained.") from None
    try:
        extra = read_unlabeled_manifest(unlabeled, labelled_ids={u.id for u in train})
        refuse_held_out_recordings(extra, held_out, unlabeled)
        dim = load_features(train[0].features).shape[1] if train else None
        for u in extra:  # every recording, as the distilled runs will load it (a few seconds for thousands)
            load_features(u.features, expect_dim=dim, context=f"utterance {u.id!r} of {unlabeled}")
    except DataError as exc:
        where = "" if "data.unlabeled" in str(exc) else "data.unlabeled: "
        hint = ""
        if not Path(unlabeled).is_file():
            hint = " The embedded data makes unlabeled manifests: `signdistill data synth --out DIR --unlabeled N`."
        raise ConfigError(f"compare: {where}{exc}{hint} Nothing was trained.") from None
