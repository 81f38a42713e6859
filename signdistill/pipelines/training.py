"""Training workflows: train a CTC model, distill a teacher into a student, cache a teacher's outputs.

Each reads as prepare -> load -> build -> fit -> score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from signdistill.checkpoint import load_checkpoint
from signdistill.config import DistillRunConfig, RunConfig
from signdistill.data import Normalizer, SignDataset, Vocabulary, read_manifest
from signdistill.defaults import TEACHER_TOPK
from signdistill.errors import ConfigError
from signdistill.inference import resolve_device
from signdistill.io import refuse_inputs_inside
from signdistill.models import build_model
from signdistill.training import CTCObjective, Trainer, TrainResult, score_dataset
from signdistill.training.run_dir import prepare_run_dir, release_run_dirs, start_run_dir
from signdistill.training.trainer import Reporter, seed_everything

logger = logging.getLogger(__name__)


@dataclass
class Splits:
    train: SignDataset
    dev: SignDataset
    test: SignDataset | None
    vocab: Vocabulary
    normalizer: Normalizer
    unlabeled_report: dict[str, Any] | None = None  # what pseudo-labelling did (distill with data.unlabeled)


def load_splits(cfg: RunConfig, vocab: Vocabulary | None = None, normalizer: Normalizer | None = None) -> Splits:
    """Read the manifests; build vocabulary and normalizer on train unless given."""
    train_utts = read_manifest(cfg.data.train)
    vocab = vocab or Vocabulary.build(u.glosses for u in train_utts)
    dim = normalizer.dim if normalizer is not None else None
    train = SignDataset(train_utts, vocab, feature_dim=dim, source=str(cfg.data.train))
    normalizer = normalizer or Normalizer.fit(train.raw)
    train.set_normalizer(normalizer)
    _warn_too_short(train, cfg.model.temporal_stride, str(cfg.data.train))
    if cfg.data.unlabeled is not None and isinstance(cfg, DistillRunConfig) and cfg.distill.unlabeled.ratio > 0:
        from signdistill.data.unlabeled import read_unlabeled_manifest

        # Normalizer and vocabulary stay those of the labelled split (the teacher's): recordings
        # without glosses are normalized like everything the teacher saw.
        extra = read_unlabeled_manifest(cfg.data.unlabeled, labelled_ids={u.id for u in train_utts})
        per_epoch = round(cfg.distill.unlabeled.ratio * len(train_utts))
        train.add_unlabeled(extra, per_epoch, source=str(cfg.data.unlabeled))
    if cfg.data.augment is not None:
        from signdistill.data.augment import Augmentation

        a = cfg.data.augment
        train.augmentation = Augmentation(speed=a.speed, frame_drop=a.frame_drop, noise=a.noise, seed=cfg.seed)
    dev = SignDataset(read_manifest(cfg.data.dev), vocab, normalizer, source=str(cfg.data.dev))
    test = None
    if cfg.data.test is not None:
        test = SignDataset(read_manifest(cfg.data.test), vocab, normalizer, source=str(cfg.data.test))
    if train.num_labelled < len(train.utterances):  # dev or test among the recordings would be trained on
        from signdistill.data.unlabeled import refuse_held_out_recordings

        held_out = {"data.dev": dev.utterances, "data.test": None if test is None else test.utterances}
        refuse_held_out_recordings(train.utterances[train.num_labelled :], held_out, cfg.data.unlabeled)
    return Splits(train, dev, test, vocab, normalizer)


def _warn_too_short(data: SignDataset, stride: int, source: str) -> None:
    """Name the utterances a model subsampling time by ``stride`` leaves too few frames for CTC (their loss is 0)."""
    if stride == 1:
        return
    from signdistill.data import min_ctc_frames

    short = [u.id for u, n in zip(data.utterances, data.lengths) if -(-n // stride) < min_ctc_frames(u.glosses)]
    if short:
        logger.warning(
            "%d utterance(s) of %s have too few frames for their glosses after subsampling time by %d (model.temporal_stride), "
            "e.g. %s: CTC cannot align them and they teach nothing. Use a smaller stride or check them.",
            len(short),
            source,
            stride,
            short[:5],
        )


def build_student_model(cfg: RunConfig, splits: Splits) -> Any:
    """The model a run config describes, with its output bias initialised as ``model.output_bias`` says."""
    model = build_model(splits.normalizer.dim, len(splits.vocab), **cfg.model.build_kwargs())
    if cfg.model.output_bias == "prior":
        from signdistill.models.bilstm import init_output_bias_from_prior

        counts = [0] * len(splits.vocab)
        for u in splits.train.utterances:
            for i in splits.vocab.encode(u.glosses):
                counts[i] += 1
        stride = cfg.model.temporal_stride  # the priors are per output frame
        init_output_bias_from_prior(model, counts, sum(-(-n // stride) for n in splits.train.lengths[: splits.train.num_labelled]))
    return model


def _evaluate_test(trainer: Trainer, splits: Splits, cfg: RunConfig) -> dict[str, Any]:
    best = load_checkpoint(Path(cfg.run_dir) / "best", device=trainer.device)
    out: dict[str, Any] = {"dev": score_dataset(best.model, splits.dev, cfg.data.eval_batch_size, trainer.device)}
    if splits.test is not None:
        out["test"] = score_dataset(best.model, splits.test, cfg.data.eval_batch_size, trainer.device)
    return out


def _run_inputs(cfg: RunConfig) -> list[tuple[str, Any]]:
    """What a training run reads: manifests, and a guide, teachers or a teacher cache."""
    d = cfg.data
    found: list[tuple[str, Any]] = [("data.train", d.train), ("data.dev", d.dev), ("data.test", d.test), ("data.unlabeled", d.unlabeled)]
    if cfg.guide is not None:
        found.append(("guide.checkpoint", cfg.guide.checkpoint))
    if isinstance(cfg, DistillRunConfig):
        found += [("distill.teachers", t.checkpoint) for t in cfg.distill.teachers]
        found.append(("distill.teacher_cache", cfg.distill.teacher_cache))
    return found


def train(cfg: RunConfig, *, reporter: Reporter | None = None, overwrite: bool = False) -> tuple[TrainResult, dict[str, Any]]:
    """Train a CTC model (teacher or baseline student) from a config.

    Returns the training result and the best checkpoint's dev (and test) scores.
    """
    if cfg.data.unlabeled is not None:
        raise ConfigError(
            f"data.unlabeled ({cfg.data.unlabeled}): a model trained on its own learns only from glosses, so recordings "
            "without them are used by `signdistill distill` (a teacher labels them). Remove data.unlabeled here."
        )
    refuse_inputs_inside("run_dir", cfg.run_dir, _run_inputs(cfg))
    resume = prepare_run_dir(cfg, overwrite=overwrite)
    try:
        splits = load_splits(cfg)
        seed_everything(cfg.seed)
        model = build_student_model(cfg, splits)
        objective: Any = CTCObjective()
        if cfg.guide is not None:
            from signdistill.training.distill import check_teacher_compatible
            from signdistill.training.objectives import GuidedCTCObjective

            guide = load_checkpoint(cfg.guide.checkpoint, device=resolve_device(cfg.train.device))
            check_teacher_compatible(guide, splits.train, f"(guide) {cfg.guide.checkpoint}")
            objective = GuidedCTCObjective(guide.model, cfg.guide.weight)
        start_run_dir(cfg, overwrite=overwrite)
        trainer = Trainer(model, objective, splits.train, splits.dev, cfg, splits.vocab, splits.normalizer, reporter=reporter)
        result = trainer.fit(resume=resume)
        return result, _evaluate_test(trainer, splits, cfg)
    finally:
        release_run_dirs()  # the run folder's lock: another process may resume it now


def _load_teachers(cfg: DistillRunConfig, splits: Splits, device: Any) -> tuple[list[Any], list[float]]:
    from signdistill.training.distill import check_teacher_compatible

    teachers, weights = [], []
    for ref in cfg.distill.teachers:
        ckpt = load_checkpoint(ref.checkpoint, device=device)
        check_teacher_compatible(ckpt, splits.train, str(ref.checkpoint))
        teachers.append(ckpt.model)  # fp32: the one-off passes (cache, pseudo-labels) run the teacher as trained
        weights.append(ref.weight)
    return teachers, weights


def teacher_precision(precision: str, device: Any) -> str:
    """``distill.teacher_precision`` resolved: ``auto`` is int8 on the CPU (a cheaper step, the student within noise
    of fp32's: docs/benchmarks.md) and fp32 on a GPU."""
    if precision == "auto":
        return "fp32" if str(device).startswith("cuda") else "int8"
    if precision == "int8" and str(device).startswith("cuda"):
        raise ConfigError("distill.teacher_precision int8 runs on the CPU only; on a GPU use bf16, fp32 or auto.")
    return precision


def _at_precision(model: Any, precision: str, device: Any, *, chosen: bool = True) -> Any:
    """The frozen online teacher in ``precision`` (resolved): fp32 as is, bf16 weights, or int8 dynamic quantization (CPU).

    When int8 was not ``chosen`` (``auto``) and this torch cannot quantize the model, the teacher stays fp32 (logged).
    """
    if precision == "int8":
        import warnings

        from signdistill.inference import quantize_int8

        try:
            with warnings.catch_warnings():  # torch's notice that torch.ao.quantization will move (the fallback below)
                warnings.filterwarnings("ignore", message=".*deprecated.*", category=DeprecationWarning)
                warnings.filterwarnings("ignore", message=".*quantiz.*deprecated", category=UserWarning)
                return quantize_int8(model)
        except (RuntimeError, NotImplementedError, AttributeError, ImportError) as exc:
            if chosen:
                raise ConfigError(f"distill.teacher_precision int8: this torch cannot quantize the teacher ({exc}). Use fp32.") from None
            logger.warning("online teacher: fp32 (this torch cannot quantize it to int8: %s)", exc)
            return model
    return model.to(torch.bfloat16) if precision == "bf16" else model


def build_distill_objective(cfg: DistillRunConfig, splits: Splits, device: Any) -> Any:
    """The :class:`DistillObjective` a distillation config describes."""
    from signdistill.losses import DistillationLoss, FeatureProjector, make_schedule, term_options
    from signdistill.training.distill import DistillObjective, TeacherCache

    d = cfg.distill
    precision = teacher_precision(d.teacher_precision, device)  # refused (int8 on a GPU) before any teacher runs
    temp = d.temperature if isinstance(d.temperature, (int, float)) else d.temperature.model_dump()
    schedule = make_schedule(temp, cfg.train.epochs)
    cache = None
    teachers: list[Any] = []
    weights: list[float] = []
    if d.teacher_cache is not None:
        cache = TeacherCache(d.teacher_cache)
        cache.check(splits.train)
        if d.teacher_precision != "fp32":
            logger.warning("distill.teacher_precision %s does not apply to a teacher cache (it holds outputs)", d.teacher_precision)
    else:
        teachers, weights = _load_teachers(cfg, splits, device)
    _label_unlabeled(cfg, splits, teachers, weights, cache, device)
    chosen = d.teacher_precision != "auto"
    teachers = [_at_precision(t, precision, device, chosen=chosen) for t in teachers]  # the online teacher's arithmetic
    if teachers:
        logger.info("online teacher: %s%s", precision, " (distill.teacher_precision auto)" if d.teacher_precision == "auto" else "")
    projector = None
    if d.loss.feature > 0:
        from signdistill.models import resolve_spec

        spec = resolve_spec(splits.normalizer.dim, len(splits.vocab), **cfg.model.build_kwargs())
        student_sizes = [2 * spec.hidden] * spec.layers
        try:
            projector = FeatureProjector(d.feature_layers, student_sizes, teachers[0].hidden_sizes)
        except ValueError as exc:
            raise ConfigError(f"distill.feature_layers: {exc}. Fix the layer pairs in the config.") from None
    # The validated weights, and each term's options as the config sets them (the term table names them).
    loss = DistillationLoss(d.loss.model_dump(), projector=projector, **{k: getattr(d, k) for k in term_options()})
    return DistillObjective(
        loss,
        schedule,
        teachers=teachers,
        teacher_weights=weights if len(weights) > 1 else None,
        cache=cache,
        ctc_warmup_epochs=d.ctc_warmup_epochs,
        kd_ramp_epochs=d.kd_ramp_epochs,
        kd_last_epoch=d.kd_last_epoch,
    )


def _label_unlabeled(cfg: DistillRunConfig, splits: Splits, teachers: list[Any], weights: list[float], cache: Any, device: Any) -> None:
    """Pseudo-label the unlabeled utterances of the training set (distill.unlabeled), once, before training."""
    u = cfg.distill.unlabeled
    if splits.train.label_weights is None or not u.pseudo_labels:
        return
    from signdistill.training.unlabeled import pseudo_label, pseudo_label_from_cache

    if cache is not None:
        report = pseudo_label_from_cache(cache, splits.train, min_confidence=u.min_confidence, weight=u.pseudo_weight)
    else:
        report = pseudo_label(
            teachers,
            weights if len(weights) > 1 else None,
            splits.train,
            min_confidence=u.min_confidence,
            weight=u.pseudo_weight,
            batch_size=cfg.data.eval_batch_size,
            device=device,
        )
    splits.unlabeled_report = report.to_dict()
    logger.info(
        "pseudo-labels: %d of %d unlabeled utterances kept (confidence >= %.2f; mean %.3f)",
        report.labelled,
        report.utterances,
        u.min_confidence,
        report.mean_confidence,
    )


def distill(cfg: DistillRunConfig, *, reporter: Reporter | None = None, overwrite: bool = False) -> tuple[TrainResult, dict[str, Any]]:
    """Distill teacher(s) (or a teacher cache) into the student the config describes."""
    refuse_inputs_inside("run_dir", cfg.run_dir, _run_inputs(cfg))
    resume = prepare_run_dir(cfg, overwrite=overwrite)
    try:
        splits = load_splits(cfg)
        device = resolve_device(cfg.train.device)
        seed_everything(cfg.seed)
        objective = build_distill_objective(cfg, splits, device)
        model = build_student_model(cfg, splits)
        start_run_dir(cfg, overwrite=overwrite)
        trainer = Trainer(
            model,
            objective,
            splits.train,
            splits.dev,
            cfg,
            splits.vocab,
            splits.normalizer,
            reporter=reporter,
            extra_meta={
                "distilled_from": [str(t.checkpoint) for t in cfg.distill.teachers],
                **({"unlabeled": splits.unlabeled_report} if splits.unlabeled_report else {}),
            },
        )
        result = trainer.fit(resume=resume)
        return result, _evaluate_test(trainer, splits, cfg)
    finally:
        release_run_dirs()  # the run folder's lock: another process may resume it now


def cache_teacher(
    cfg: DistillRunConfig, out: str | Path, *, topk: int = TEACHER_TOPK, batch_size: int = 32, overwrite: bool = False
) -> dict[str, Any]:
    """Run the config's teacher(s) over its training split (and data.unlabeled) once and store top-k outputs.

    ``out`` must be new, empty, or (with ``overwrite``) a cache written before; it may not be one
    of the inputs (the manifests, a teacher). Anything else is refused before a file is written.
    """
    from signdistill.io import check_output_path, refuse_output_clashes
    from signdistill.training.distill import is_teacher_cache, write_teacher_cache

    if topk < 1:
        raise ConfigError(f"--topk must be >= 1, got {topk}.")
    if not cfg.distill.teachers:
        raise ConfigError("cache-teacher runs the config's distill.teachers, and it names none: add their checkpoint folders.")
    inputs = [("data.train", cfg.data.train), *(("distill.teachers", t.checkpoint) for t in cfg.distill.teachers)]
    if cfg.data.unlabeled is not None:
        inputs.append(("data.unlabeled", cfg.data.unlabeled))
    refuse_output_clashes([("--out", Path(out))], inputs)
    check_output_path(out, kind="teacher cache", overwrite=overwrite, is_ours=is_teacher_cache)
    splits = load_splits(cfg)
    device = resolve_device(cfg.train.device)
    teachers, weights = _load_teachers(cfg, splits, device)
    return write_teacher_cache(
        teachers,
        weights,
        splits.train,
        out,
        topk=topk,
        batch_size=batch_size,
        device=device,
        meta={"teachers": [str(t.checkpoint) for t in cfg.distill.teachers], "train_manifest": str(cfg.data.train)},
    )


def teacher_passed_note(cfg: DistillRunConfig, student_dev_wer: float) -> str | None:
    """A note when the distilled student did at least as well on dev as a teacher did on the same dev manifest.

    The teacher's dev WER is the one its checkpoint recorded (``meta.metrics``); a teacher scored on
    another dev manifest, or without that record (imported, cached), is not compared.
    """
    import filecmp
    import json

    for ref in cfg.distill.teachers:
        try:
            saved = json.loads((Path(ref.checkpoint) / "checkpoint.json").read_text(encoding="utf-8"))
            teacher_wer = float(saved["meta"]["metrics"]["dev/wer"])
            teacher_dev = Path(saved["config"]["data"]["dev"])
            same_dev = teacher_dev.resolve() == Path(cfg.data.dev).resolve() or filecmp.cmp(teacher_dev, cfg.data.dev, shallow=False)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if same_dev and student_dev_wer <= teacher_wer and student_dev_wer < 90.0:  # 90: a model that learned (compare's rule)
            return (
                f"note: the student's best dev WER ({student_dev_wer:.2f}) reached its teacher's ({teacher_wer:.2f}, "
                f"{ref.checkpoint}, same dev manifest). Whether the teacher still helped depends on an equally trained "
                "CTC-only student: distilling helped where that student stayed worse than the teacher and hurt where it "
                "passed it (docs/benchmarks.md, patient teaching). `signdistill compare` measures which case this is."
            )
    return None


def distill_note() -> str:
    """What `distill` says at the end: only what the measurements in docs/benchmarks.md support."""
    return (
        "note: measured (5 seeds, docs/benchmarks.md): with recordings of unseen signers (data.unlabeled) the default "
        "recipe beat an equally trained CTC-only student on all three embedded datasets at both ratios, greedy and "
        "LM beam (at least 57 % of the gap); on labelled data alone on four of six, and not on a held-out task of real "
        "human data (-0.08 [-1.25, +0.94] points). With a teacher no better than its student it hurt. Measure your case "
        "with `signdistill compare` (docs/compare.md)."
    )
