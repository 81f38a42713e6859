"""Config -> run: the functions behind every CLI command (usable from Python)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from signdistill.config import RunConfig, dump_config
from signdistill.data import Normalizer, SignDataset, Vocabulary, read_manifest
from signdistill.errors import ConfigError
from signdistill.io import write_text_atomic
from signdistill.models import build_model
from signdistill.training import CTCObjective, Trainer, TrainResult, load_checkpoint, score_dataset
from signdistill.training.trainer import Reporter, resolve_device, seed_everything

log = logging.getLogger(__name__)


@dataclass
class Splits:
    train: SignDataset
    dev: SignDataset
    test: SignDataset | None
    vocab: Vocabulary
    normalizer: Normalizer


def load_splits(cfg: RunConfig, vocab: Vocabulary | None = None, normalizer: Normalizer | None = None) -> Splits:
    """Read the manifests; build vocabulary and normalizer on train unless given."""
    train_utts = read_manifest(cfg.data.train)
    vocab = vocab or Vocabulary.build(u.glosses for u in train_utts)
    dim = normalizer.dim if normalizer is not None else None
    train = SignDataset(train_utts, vocab, feature_dim=dim, source=str(cfg.data.train))
    normalizer = normalizer or Normalizer.fit(train.raw)
    train.set_normalizer(normalizer)
    if cfg.data.augment is not None:
        from signdistill.data.augment import Augmentation

        a = cfg.data.augment
        train.augmentation = Augmentation(speed=a.speed, frame_drop=a.frame_drop, noise=a.noise, seed=cfg.seed)
    dev = SignDataset(read_manifest(cfg.data.dev), vocab, normalizer, source=str(cfg.data.dev))
    test = None
    if cfg.data.test is not None:
        test = SignDataset(read_manifest(cfg.data.test), vocab, normalizer, source=str(cfg.data.test))
    return Splits(train, dev, test, vocab, normalizer)


def build_student_model(cfg: RunConfig, splits: Splits) -> Any:
    """The model a run config describes, with its output bias initialised as ``model.output_bias`` says."""
    model = build_model(splits.normalizer.dim, len(splits.vocab), **cfg.model.build_kwargs())
    if cfg.model.output_bias == "prior":
        from signdistill.models.bilstm import init_output_bias_from_prior

        counts = [0] * len(splits.vocab)
        for u in splits.train.utterances:
            for i in splits.vocab.encode(u.glosses):
                counts[i] += 1
        init_output_bias_from_prior(model, counts, sum(splits.train.lengths))
    return model


# Settings that cannot change a run's result: a run resumes across them (train.device too, when resuming).
NO_EFFECT_SETTINGS = ("train.threads", "train.progress", "train.tensorboard", "train.log_every_steps")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differing_settings(previous: dict[str, Any], current: dict[str, Any], *, resuming: bool) -> list[str]:
    """Dotted keys whose values differ, less the settings that cannot change the result."""
    ignore = set(NO_EFFECT_SETTINGS) | ({"train.device"} if resuming else set())
    a, b = _flat(previous), _flat(current)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and k not in ignore)


def _run_started(run_dir: Path) -> bool:
    """True once training wrote anything besides config.yaml (an older version wrote it before validating)."""
    return any(p.name != "config.yaml" and not p.name.startswith(".") for p in run_dir.iterdir())


def prepare_run_dir(cfg: RunConfig, *, overwrite: bool = False) -> bool:
    """Check the run folder before anything is built; return True if it holds this same run to resume.

    Nothing is written here: :func:`start_run_dir` writes ``config.yaml`` (and, with
    ``overwrite``, deletes the previous run) once the data, model and objective have been
    built, so a config that fails validation leaves the folder as it was. A folder holding a
    *different* run (another config) is refused unless ``overwrite``; settings that cannot
    change the result (:data:`NO_EFFECT_SETTINGS`, and ``train.device`` when resuming) may
    differ. Under torchrun only rank 0 checks the folder; the other ranks resume from
    whatever it holds once the process group has formed (after rank 0 has started the run).
    """
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return True
    from signdistill.training.trainer import check_run_dir

    # Settings the Trainer would refuse, checked now so that nothing is written for them.
    device = resolve_device(cfg.train.device)
    if cfg.train.precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision is 'fp16', which needs a CUDA device (fp16 with a GradScaler). On CPU use 'bf16' or 'fp32'.")
    run_dir = Path(cfg.run_dir)
    existed = run_dir.exists()
    check_run_dir(run_dir, 0)
    saved = run_dir / "config.yaml"
    if not (existed and any(run_dir.iterdir())):
        return False
    if not saved.is_file():  # never deleted, --overwrite or not: it may hold anything
        raise ConfigError(
            f"Run folder {run_dir} exists and is not a signdistill run (no config.yaml). Nothing was changed; pick a new "
            "run_dir (--set run_dir=...). --overwrite only replaces an earlier signdistill run."
        )
    if overwrite:
        return False
    if not _run_started(run_dir):  # only a config.yaml: no run ever started here
        return False
    previous = yaml.safe_load(saved.read_text(encoding="utf-8"))
    try:  # re-validate, so fields added in later versions take their defaults
        previous = type(cfg).model_validate(previous).model_dump(mode="json")
    except Exception:  # noqa: BLE001 - an unreadable old config is simply "different"
        previous = previous if isinstance(previous, dict) else {}
    resuming = (run_dir / "last").exists()
    changed = differing_settings(previous, cfg.model_dump(mode="json"), resuming=resuming)
    if changed:
        shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
        raise ConfigError(
            f"Run folder {run_dir} already holds a different run (settings that differ: {shown}). "
            "Pick a new run_dir (--set run_dir=...), or pass --overwrite to delete the old run."
        )
    return resuming


def start_run_dir(cfg: RunConfig, *, overwrite: bool = False) -> None:
    """The run starts: with ``overwrite`` delete the previous run, then write the resolved config.

    Call after :func:`prepare_run_dir` and once everything the run needs has been built and
    validated, before the Trainer (whose process group makes the other torchrun ranks wait).
    """
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return
    run_dir = Path(cfg.run_dir)
    if overwrite and run_dir.exists() and any(run_dir.iterdir()):
        if not (run_dir / "config.yaml").is_file():  # prepare_run_dir refused this; never delete a foreign folder
            raise ConfigError(f"Run folder {run_dir} is not a signdistill run; refusing to delete it.")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", dump_config(cfg))


def _evaluate_test(trainer: Trainer, splits: Splits, cfg: RunConfig) -> dict[str, Any]:
    best = load_checkpoint(Path(cfg.run_dir) / "best", device=trainer.device)
    out: dict[str, Any] = {"dev": score_dataset(best.model, splits.dev, cfg.data.eval_batch_size, trainer.device)}
    if splits.test is not None:
        out["test"] = score_dataset(best.model, splits.test, cfg.data.eval_batch_size, trainer.device)
    return out


def train(cfg: RunConfig, *, reporter: Reporter | None = None, overwrite: bool = False) -> tuple[TrainResult, dict[str, Any]]:
    """Train a CTC model (teacher or baseline student) from a config.

    Returns the training result and the best checkpoint's dev (and test) scores.
    """
    resume = prepare_run_dir(cfg, overwrite=overwrite)
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


def _score(refs: list[list[str]], hyps: list[list[str]], ids: list[str], signers: list[str | None], cleanup: bool) -> dict[str, Any]:
    from signdistill.evaluation import word_error_rate
    from signdistill.evaluation.phoenix import phoenix_cleanup

    if cleanup:
        refs = [phoenix_cleanup(r) or ["[EMPTY]"] for r in refs]
        hyps = [phoenix_cleanup(h) for h in hyps]
    out = word_error_rate(refs, hyps, signers).to_dict()
    from signdistill.evaluation.wer import jiwer_wer

    out["wer_jiwer"] = jiwer_wer(refs, hyps)  # unit-cost alignment, as Hugging Face evaluate reports it
    out["blank_rate"] = sum(not h for h in hyps) / max(len(hyps), 1)
    out["hypotheses"] = {i: " ".join(h) for i, h in zip(ids, hyps)}
    return out


def decode_logits(logits: list[Any], tokens: list[str], decoder: Any | None, *, processes: int = 1) -> list[list[str]]:
    """Greedy (``decoder`` None) or beam search over per-utterance logits ``(T, V)``."""
    import torch

    if decoder is None:
        from signdistill.decoding import greedy_decode

        out = []
        for lg in logits:
            ids = greedy_decode(lg.unsqueeze(0), torch.tensor([lg.shape[0]]))[0]
            out.append([tokens[i] for i in ids])
        return out
    from signdistill.decoding.beam import BeamSearchDecoder

    beam = BeamSearchDecoder(tokens, decoder)
    return beam.decode([torch.log_softmax(lg.float(), -1).numpy() for lg in logits], processes=processes)


@dataclass
class ModelOutputs:
    """A checkpoint's outputs over a manifest, computed once and decoded as often as needed."""

    ckpt: Any
    logits: list[Any]
    refs: list[list[str]]
    ids: list[str]
    signers: list[str | None]


def model_outputs(checkpoint: str | Path, manifest: str | Path, *, batch_size: int = 32, device: str = "auto") -> ModelOutputs:
    """Run a checkpoint over a manifest once; keep per-utterance logits ``(T, V)``."""
    from signdistill.training.trainer import predict
    from signdistill.transcribe import export_outputs, scored_as_export

    if scored_as_export(checkpoint):  # ONNX, fp16, int8: scored as they run when deployed (CPU)
        return ModelOutputs(*export_outputs(checkpoint, manifest, batch_size=batch_size))

    dev = resolve_device(device, "--device")
    ckpt = load_checkpoint(checkpoint, device=dev)
    data = SignDataset(read_manifest(manifest), ckpt.vocab, ckpt.normalizer, source=str(manifest))
    _, logits = predict(ckpt.model, data, batch_size, dev, keep_logits=True)
    assert logits is not None
    return ModelOutputs(
        ckpt, logits, [list(u.glosses) for u in data.utterances], [u.id for u in data.utterances], [u.signer for u in data.utterances]
    )


def evaluate(
    checkpoint: str | Path,
    manifest: str | Path,
    *,
    batch_size: int = 32,
    device: str = "auto",
    decoder: Any | None = None,
    compare_greedy: bool = False,
    cleanup: bool = False,
    processes: int = 1,
    stm: str | Path | None = None,
    ctm: str | Path | None = None,
) -> dict[str, Any]:
    """Decode ``manifest`` with a checkpoint and score it (WER, S/D/I, SER, per signer).

    The network runs once; greedy and beam search (``decoder``, a
    :class:`~signdistill.decoding.beam.DecoderConfig`) both read its outputs. ``cleanup``
    applies the PHOENIX-2014 evaluation rewrites to references and hypotheses.
    """
    from signdistill.evaluation.sclite import write_ctm, write_stm

    outs = model_outputs(checkpoint, manifest, batch_size=batch_size, device=device)
    ckpt, logits, refs, ids, signers = outs.ckpt, outs.logits, outs.refs, outs.ids, outs.signers
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "manifest": str(manifest),
        "parameters": ckpt.model.num_parameters(),
        "cleanup": "phoenix" if cleanup else None,
    }
    runs: dict[str, list[list[str]]] = {}
    if decoder is None or compare_greedy:
        runs["greedy"] = decode_logits(logits, ckpt.vocab.tokens, None)
    if decoder is not None:
        runs["beam"] = decode_logits(logits, ckpt.vocab.tokens, decoder, processes=processes)
        result["decoder"] = decoder.to_dict()
    for name, hyps in runs.items():
        result[name] = _score(refs, hyps, ids, signers, cleanup)
    main = result["beam" if decoder is not None else "greedy"]
    result.update({k: v for k, v in main.items()})  # top-level keys (wer, ...) describe the main decoder
    result["decoding"] = "beam" if decoder is not None else "greedy"
    if stm is not None:
        from signdistill.evaluation.phoenix import phoenix_cleanup

        write_stm(stm, ids, [phoenix_cleanup(r) if cleanup else r for r in refs], signers)
    if ctm is not None:
        write_ctm(ctm, ids, [h.split() for h in main["hypotheses"].values()])
    return result


# -- distillation ------------------------------------------------------------------------------


def _load_teachers(cfg: Any, splits: Splits, device: Any) -> tuple[list[Any], list[float]]:
    from signdistill.training.distill import check_teacher_compatible

    teachers, weights = [], []
    for ref in cfg.distill.teachers:
        ckpt = load_checkpoint(ref.checkpoint, device=device)
        check_teacher_compatible(ckpt, splits.train, str(ref.checkpoint))
        teachers.append(ckpt.model)
        weights.append(ref.weight)
    return teachers, weights


def build_distill_objective(cfg: Any, splits: Splits, device: Any) -> Any:
    """The :class:`DistillObjective` a distillation config describes."""
    from signdistill.losses import DistillationLoss, FeatureProjector, make_schedule
    from signdistill.training.distill import DistillObjective, TeacherCache

    d = cfg.distill
    temp = d.temperature if isinstance(d.temperature, (int, float)) else d.temperature.model_dump()
    schedule = make_schedule(temp, cfg.train.epochs)
    cache = None
    teachers: list[Any] = []
    weights: list[float] = []
    if d.teacher_cache is not None:
        cache = TeacherCache(d.teacher_cache)
        cache.check(splits.train)
    else:
        teachers, weights = _load_teachers(cfg, splits, device)
    projector = None
    if d.loss.feature > 0:
        from signdistill.models import resolve_spec

        spec = resolve_spec(splits.normalizer.dim, len(splits.vocab), **cfg.model.build_kwargs())
        student_sizes = [2 * spec.hidden] * spec.layers
        try:
            projector = FeatureProjector(d.feature_layers, student_sizes, teachers[0].hidden_sizes)
        except ValueError as exc:
            raise ConfigError(f"distill.feature_layers: {exc}. Fix the layer pairs in the config.") from None
    loss = DistillationLoss(
        kl=d.loss.kl,
        ctc=d.loss.ctc,
        feature=d.loss.feature,
        sequence=d.loss.sequence,
        aligned=d.loss.aligned,
        factorized=d.loss.factorized,
        shift=d.loss.shift,
        sampled=d.loss.sampled,
        shift_frames=d.shift_frames,
        num_samples=d.num_samples,
        gloss_weight=d.gloss_weight,
        projector=projector,
        blank_mode=d.blank_mode,
        blank_weight=d.blank_weight,
        topk=d.topk,
    )
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


def distill(cfg: Any, *, reporter: Reporter | None = None, overwrite: bool = False) -> tuple[TrainResult, dict[str, Any]]:
    """Distill teacher(s) (or a teacher cache) into the student the config describes."""
    resume = prepare_run_dir(cfg, overwrite=overwrite)
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
        extra_meta={"distilled_from": [str(t.checkpoint) for t in cfg.distill.teachers]},
    )
    result = trainer.fit(resume=resume)
    return result, _evaluate_test(trainer, splits, cfg)


def cache_teacher(cfg: Any, out: str | Path, *, topk: int = 16, batch_size: int = 32) -> dict[str, Any]:
    """Run the config's teacher(s) over its training split once and store top-k outputs."""
    from signdistill.training.distill import write_teacher_cache

    if topk < 1:
        raise ConfigError(f"--topk must be >= 1, got {topk}.")
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


# -- quickstart --------------------------------------------------------------------------------

# Small models for the embedded dataset (the plan's 5x384 / 4x256 are examples/configs/teacher.yaml
# and student.yaml). docs/benchmarks.md measures them with `signdistill compare`.
QUICKSTART_TEACHER = {"layers": 2, "hidden": 80, "input_proj": 80, "dropout": 0.1}
QUICKSTART_STUDENT = {"layers": 1, "hidden": 48, "input_proj": 48, "dropout": 0.1}
QUICKSTART_SIZES: dict[str, dict[str, Any]] = {
    "default": {
        "data": "quickstart",
        "teacher_epochs": 13,
        "student_epochs": 15,
        "alphas": [0.0, 0.5],
        "betas": [0.0, 2.0],
    },
    "small": {"data": "tiny", "teacher_epochs": 2, "student_epochs": 2, "alphas": [0.0, 1.0], "betas": [0.0, 2.0]},
}
QUICKSTART_MARKER = "quickstart.json"


def run_config(
    run_dir: Path,
    data_dir: Path,
    model: dict[str, Any],
    epochs: int,
    *,
    seed: int = 0,
    threads: int | None = None,
    lr: float = 3e-3,
    progress: bool = True,
) -> dict[str, Any]:
    """A plain-data run config for the embedded dataset (what the benchmarks and examples use)."""
    return {
        "seed": seed,
        "run_dir": str(run_dir),
        "data": {
            "train": str(data_dir / "train.jsonl"),
            "dev": str(data_dir / "dev.jsonl"),
            "test": str(data_dir / "test.jsonl"),
            "batch_size": 16,
        },
        "model": dict(model),
        "optim": {"lr": lr, "warmup_steps": 100},
        "train": {"epochs": epochs, "threads": threads, "progress": progress, "collapse_patience": 0},
    }


def quickstart_plan(size: str = "default", seeds: int = 1) -> str:
    """What quickstart is about to do, in one sentence (printed before it starts)."""
    spec = QUICKSTART_SIZES[size]
    n = 1 + 2 * seeds
    lm = " then tunes an LM beam search on dev for each model," if _beam_available() else ""
    return (
        f"quickstart: generates the embedded dataset, trains {n} models (a teacher for {spec['teacher_epochs']} epochs, then "
        f"{seeds} x a CTC-only student and {seeds} x a distilled student for {spec['student_epochs']} epochs each, in parallel),"
        f"{lm} and compares them with a paired bootstrap interval."
    )


def _beam_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyctcdecode") is not None and importlib.util.find_spec("kenlm") is not None


QUICKSTART_OUTPUTS = (QUICKSTART_MARKER, "data", "compare", "lm.arpa", "compare.yaml", "report.json")


_RUN_FILE = r"(config\.yaml|metrics\.jsonl|compare_run\.json|compare_beam\.json|decoder\.json|best|"
_RUN_FILE += r"(best|last)(\.old)?/(checkpoint\.json|model\.safetensors|training_state\.pt)|[^/]*\.tmp)"
_QUICKSTART_FILES = [
    r"quickstart\.json|lm\.arpa|compare\.yaml|report\.json|\.[^/]*\.tmp",
    r"data/(train|dev|test)\.jsonl|data/features/(train|dev|test)-s\d+-\d+\.npy|data/[^/]*\.tmp",
    r"compare/(\.signdistill-compare\.json|compare\.resolved\.yaml|compare\.yaml|results\.json|results\.md|\.lock|[^/]*\.tmp)",
    r"compare/(teacher|teacher-eval|runs/[a-z0-9._-]+/seed-?\d+(-t[0-9a-f]{8})?)/" + _RUN_FILE,
]


def _quickstart_file(rel: str) -> bool:
    """A file quickstart writes under its --out (anything else there is the user's)."""
    import re

    return any(re.fullmatch(pattern, rel) for pattern in _QUICKSTART_FILES)


def check_quickstart_out(
    out: str | Path, *, size: str, seed: int, seeds: int, overwrite: bool, distill_recipe: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Check (and with ``overwrite`` clear) quickstart's output folder before anything runs; return its settings."""
    settings = {"size": size, "seed": seed, "seeds": seeds, "recipe": distill_recipe}
    _check_quickstart_out(Path(out).absolute(), overwrite, settings)
    return settings


def _check_quickstart_out(out: Path, overwrite: bool, settings: dict[str, Any]) -> None:
    """Refuse an output folder that is not an earlier quickstart (or one with other settings, unless ``overwrite``).

    With ``overwrite`` only what quickstart writes is deleted; a folder that also holds anything
    else is refused.
    """
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"quickstart --out {out} is a file, not a folder. Nothing was changed; pick another path.")
    if not any(out.iterdir()):
        return
    marker = out / QUICKSTART_MARKER
    if not marker.is_file():
        raise ConfigError(
            f"quickstart --out {out} exists and is not a quickstart folder. Nothing was changed; pick another path "
            "(--overwrite only replaces an earlier quickstart)."
        )
    if overwrite:
        from signdistill.io import refuse_unexpected

        refuse_unexpected(out, _quickstart_file, "quickstart")
        for name in QUICKSTART_OUTPUTS:
            p = out / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
        return
    import json

    try:
        previous = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    differs = sorted(k for k in settings if previous.get(k) != settings[k])
    if differs:
        was = ", ".join(f"--{k} {previous.get(k)}" for k in differs)
        raise ConfigError(
            f"quickstart --out {out} holds an earlier quickstart with other settings ({was}). Nothing was changed; "
            "pass --overwrite to replace it, or pick another --out."
        )


def quickstart(
    out: str | Path,
    *,
    size: str = "default",
    seed: int = 0,
    seeds: int = 1,
    jobs: int | None = None,
    overwrite: bool = False,
    on_event: Any = None,
    distill_recipe: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Synthesize data; train a teacher, CTC-only and distilled students; compare them honestly.

    Runs a small :mod:`signdistill.compare` (recipes ``ctc`` and ``default``, ``seeds`` seeds
    from ``seed``) and reads the plan's success criteria off its intervals. Writes ``data/``,
    ``compare.yaml`` (rerun it with more seeds: ``signdistill compare -c OUT/compare.yaml``),
    ``compare/`` and ``report.json`` under ``out``. An earlier quickstart in ``out`` is resumed.
    """
    from signdistill.benchmark import frames_per_second
    from signdistill.compare import compare
    from signdistill.config import CompareConfig
    from signdistill.data.synth import generate
    from signdistill.io import write_json_atomic

    if size not in QUICKSTART_SIZES:
        raise ConfigError(f"--size {size!r} is not one of {sorted(QUICKSTART_SIZES)}.")
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}.")
    spec = QUICKSTART_SIZES[size]
    out = Path(out).absolute()  # compare.yaml then works from any folder
    settings = check_quickstart_out(out, size=size, seed=seed, seeds=seeds, overwrite=overwrite, distill_recipe=distill_recipe)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / QUICKSTART_MARKER, settings)
    data_dir = out / "data"
    if not (data_dir / "test.jsonl").exists():  # generate() writes test.jsonl last
        generate(data_dir, seed=seed, size=spec["data"])
    beam = _beam_available()
    cfg_data: dict[str, Any] = {
        "out": str(out / "compare"),
        "data": {
            "train": str(data_dir / "train.jsonl"),
            "dev": str(data_dir / "dev.jsonl"),
            "test": str(data_dir / "test.jsonl"),
            "batch_size": 16,
        },
        "teacher": {"model": QUICKSTART_TEACHER, "epochs": spec["teacher_epochs"], "seed": seed},
        "student": QUICKSTART_STUDENT,
        "recipes": ["ctc", {"name": "distilled", "distill": distill_recipe}] if distill_recipe else ["ctc", "default"],
        "seeds": list(range(seed, seed + seeds)),
        "epochs": spec["student_epochs"],
        "optim": {"lr": 3e-3, "warmup_steps": 100},
    }
    if beam:
        lm = out / "lm.arpa"
        if not lm.exists():
            build_lm(data_dir / "train.jsonl", lm, order=3)
        cfg_data["lm"] = {"path": str(lm), "alphas": spec["alphas"], "betas": spec["betas"]}
    cfg = CompareConfig.model_validate(cfg_data)
    write_text_atomic(out / "compare.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    results = compare(cfg, jobs=jobs, on_event=on_event)
    recipes = results["recipes"]
    name = "distilled" if distill_recipe else "default"
    rows = {"teacher": results["teacher"], "student": recipes["ctc"], "distilled": recipes[name]}
    models: dict[str, Any] = {}
    for key, r in rows.items():
        run = out / "compare" / ("teacher" if key == "teacher" else f"runs/{'ctc' if key == 'student' else name}/seed{seed}")
        best = load_checkpoint(run / "best")
        models[key] = {
            "parameters": best.model.num_parameters(),
            "size_bytes": (run / "best" / "model.safetensors").stat().st_size,
            "dev_wer": r.get("dev_wer_mean", r.get("dev_wer")),
            "test_wer": r.get("test_wer_mean", r.get("test_wer")),
            "frames_per_s": frames_per_second(best.model, threads=1),
        }
        if beam:
            models[key]["test_wer_beam"] = r.get("test_wer_beam_mean", r.get("test_wer_beam"))
    d = rows["distilled"]
    report: dict[str, Any] = {
        "size": size,
        "seeds": results["seeds"],
        "interval": (
            f"{int(round(100 * results['confidence']))} % paired bootstrap over {results['test_utterances']} test utterances"
            + (f" and {seeds} seeds" if seeds > 1 else " (one seed: test-set noise only, not training noise)")
        ),
        "models": models,
        "distilled_vs_student": {"greedy": d["paired_test"], "greedy_dev": d["paired_dev"]},
        "compare": str(out / "compare" / "results.json"),
    }
    gap = models["distilled"]["test_wer"] - models["teacher"]["test_wer"]
    dev_d = d["paired_dev"]
    criteria: dict[str, Any] = {
        "distilled student within 1 point of the teacher (greedy)": _crit(gap < 1.0, f"{gap:+.2f} points"),
        "distillation beats baseline (greedy)": _crit_interval(d["paired_test"]),
        "improvement consistent across dev and test (greedy)": _crit(
            d["consistent"] and d["paired_test"]["verdict"] == "helps",
            f"dev {dev_d['mean']:+.2f} [{dev_d['ci_low']:+.2f}, {dev_d['ci_high']:+.2f}]",
        ),
        "size unchanged": _crit(
            models["distilled"]["size_bytes"] == models["student"]["size_bytes"], f"{models['distilled']['size_bytes']:,} bytes"
        ),
        "speed at least 30 frames/s (1 thread)": _crit(
            models["distilled"]["frames_per_s"] >= 30.0, f"{models['distilled']['frames_per_s']:,.0f}"
        ),
    }
    # Models that learned nothing make every comparison meaningless (all at 100 % WER "agree").
    stuck = [k for k, m in models.items() if m["dev_wer"] >= 90.0]
    if stuck:
        report["warning"] = (
            f"{', '.join(stuck)} did not learn (dev WER >= 90 %): the criteria above that compare WERs mean nothing. "
            "Train longer (the default size, or more epochs)."
        )
        criteria = {k: {**v, "result": "not meaningful"} if _about_wer(k) else v for k, v in criteria.items()}
    if beam:
        report["distilled_vs_student"]["beam"] = d["paired_test_beam"]
        criteria["beam search gains on top (distilled)"] = _crit_interval(d["beam_vs_greedy_test"])
        criteria["distillation beats baseline (tuned LM beam)"] = _crit_interval(d["paired_test_beam"])
        if stuck:
            criteria = {k: {**v, "result": "not meaningful"} if _about_wer(k) else v for k, v in criteria.items()}
    report["criteria"] = criteria
    write_json_atomic(out / "report.json", report)
    return report


def _about_wer(criterion: str) -> bool:
    """Criteria that compare WERs (size and speed do not depend on training)."""
    return not criterion.startswith(("size", "speed"))


def _crit(ok: bool, value: str = "") -> dict[str, Any]:
    return {"result": "pass" if ok else "fail", "value": value}


def _crit_interval(pd: dict[str, Any]) -> dict[str, Any]:
    """pass only when the interval of the difference lies below 0; 'within noise' when it contains 0.

    With one seed the interval covers test-set noise only: a pass then reads "pass (1 seed)",
    since another seed could undo it (training noise is not in the interval).
    """
    result = {"helps": "pass", "hurts": "fail"}.get(pd["verdict"], "within noise")
    if result != "within noise" and pd.get("seeds", 2) == 1:
        result += " (1 seed)"
    return {"result": result, "difference": pd["mean"], "ci_low": pd["ci_low"], "ci_high": pd["ci_high"]}


def quickstart_table(report: dict[str, Any]) -> Any:
    """The quickstart report as rich renderables: the model table and the plan's criteria."""
    from rich.console import Group
    from rich.table import Table

    beam = all("test_wer_beam" in m for m in report["models"].values())
    seeds = report["seeds"]
    over = f"mean of seeds {seeds}" if len(seeds) > 1 else f"seed {seeds[0]}"
    t = Table(title=f"signdistill quickstart (embedded dataset, size={report['size']}, {over})")
    cols = ["model", "params", "size on disk", "dev WER % (greedy)", "test WER % (greedy)"]
    cols += ["test WER % (tuned LM beam)"] if beam else []
    for col in [*cols, "frames/s (1 thread)"]:
        t.add_column(col, justify="left" if col == "model" else "right")
    for name, m in report["models"].items():
        t.add_row(
            name,
            f"{m['parameters']:,}",
            f"{m['size_bytes'] / 1e6:.2f} MB",
            f"{m['dev_wer']:.2f}",
            f"{m['test_wer']:.2f}",
            *([f"{m['test_wer_beam']:.2f}"] if beam else []),
            f"{m['frames_per_s']:,.0f}",
        )
    c = Table(title=f"the plan's success criteria (differences in WER points, {report['interval']})")
    c.add_column("criterion")
    c.add_column("value / difference [interval]", justify="right")
    c.add_column("result", justify="right")
    colour = {"pass": "green", "fail": "red", "within noise": "yellow", "not meaningful": "yellow"}
    for k, v in report["criteria"].items():
        diff = f"{v['difference']:+.2f} [{v['ci_low']:+.2f}, {v['ci_high']:+.2f}]" if "difference" in v else v.get("value", "")
        c.add_row(k, diff, f"[{colour[v['result'].split(' (')[0]]}]{v['result']}[/]")
    parts: list[Any] = [t, c]
    if report.get("warning"):
        from rich.text import Text

        parts.append(Text(f"warning: {report['warning']}", style="bold yellow"))
    return Group(*parts)


# -- language models and decoder tuning ----------------------------------------------------------


def build_lm(manifest: str | Path, out: str | Path, *, order: int = 3, cleanup: bool = False) -> dict[str, Any]:
    """Estimate a gloss n-gram LM (modified Kneser-Ney) from a manifest's transcripts; write ARPA."""
    from signdistill.decoding.lm import build_arpa
    from signdistill.evaluation.phoenix import phoenix_cleanup

    if order < 1 or order > 10:
        raise ConfigError(f"--order must be between 1 and 10, got {order}.")
    utts = read_manifest(manifest)
    transcripts = [phoenix_cleanup(u.glosses) if cleanup else list(u.glosses) for u in utts]
    build_arpa(transcripts, out, order=order)
    return {
        "manifest": str(manifest),
        "out": str(out),
        "order": order,
        "sentences": len(transcripts),
        "vocabulary": len({g for t in transcripts for g in t}),
    }


def parse_grid(spec: str, name: str) -> list[float]:
    """``"0:2:0.5"`` (start:stop:step, inclusive) or ``"0,0.5,1"``."""
    try:
        if ":" in spec:
            start, stop, step = (float(x) for x in spec.split(":"))
            if step <= 0:
                raise ValueError
            n = int(round((stop - start) / step))
            return [round(start + i * step, 10) for i in range(n + 1)]
        return [float(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--{name} {spec!r} is not a range start:stop:step (step > 0) or a list a,b,c.") from None


def tune_decoder(
    checkpoint: str | Path,
    manifest: str | Path,
    lm: str | Path,
    out: str | Path,
    *,
    alphas: list[float],
    betas: list[float],
    beam_width: int = 10,
    backend: str = "pyctcdecode",
    search: str = "grid",
    trials: int = 20,
    seed: int = 0,
    cleanup: bool = False,
    batch_size: int = 32,
    device: str = "auto",
    on_progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Search alpha/beta on a (dev) manifest; the network runs once, every setting reuses its outputs.

    Writes the best settings as JSON (``evaluate --decoder-config`` reads it) and returns
    the table of every setting tried, plus greedy WER for reference. ``on_progress(done,
    total, best)`` is called once before the search (``done`` 0, ``best`` empty) and after
    every setting tried, with the best row so far (``alpha``, ``beta``, ``wer``).
    """
    import random as _random

    from signdistill.decoding.beam import DecoderConfig
    from signdistill.decoding.lm import check_lm_file
    from signdistill.io import write_json_atomic

    if search not in ("grid", "random"):
        raise ConfigError(f"--search must be grid or random, got {search!r}.")
    check_lm_file(lm)  # before the network runs over the whole manifest
    outs = model_outputs(checkpoint, manifest, batch_size=batch_size, device=device)
    ckpt, logits, refs, ids, signers = outs.ckpt, outs.logits, outs.refs, outs.ids, outs.signers
    grid = [(a, b) for a in alphas for b in betas]
    if search == "random":
        rng = _random.Random(seed)
        lo_a, hi_a, lo_b, hi_b = min(alphas), max(alphas), min(betas), max(betas)
        grid = [(round(rng.uniform(lo_a, hi_a), 4), round(rng.uniform(lo_b, hi_b), 4)) for _ in range(trials)]
    greedy = _score(refs, decode_logits(logits, ckpt.vocab.tokens, None), ids, signers, cleanup)["wer"]
    table: list[dict[str, Any]] = []

    def rank(r: dict[str, Any]) -> tuple[float, float, float]:
        return (r["wer"], r["alpha"], abs(r["beta"]))

    if on_progress is not None:
        on_progress(0, len(grid), {})
    for a, b in grid:
        cfg = DecoderConfig(beam_width=beam_width, alpha=a, beta=b, lm=str(lm), backend=backend)
        wer = _score(refs, decode_logits(logits, ckpt.vocab.tokens, cfg), ids, signers, cleanup)["wer"]
        table.append({"alpha": a, "beta": b, "wer": wer})
        if on_progress is not None:
            on_progress(len(table), len(grid), min(table, key=rank))
    best = min(table, key=rank)
    best_cfg = DecoderConfig(beam_width=beam_width, alpha=best["alpha"], beta=best["beta"], lm=str(lm), backend=backend)
    write_json_atomic(out, best_cfg.to_dict())
    return {"greedy_wer": greedy, "table": table, "best": best, "decoder_config": str(out)}


def report(
    runs: dict[str, Path],
    manifest: str | Path,
    out: str | Path,
    *,
    decoder: Any | None = None,
    utterance: str | None = None,
    cleanup: bool = False,
    device: str = "auto",
) -> dict[str, Any]:
    """Compare runs (or checkpoints) on one manifest: Markdown/JSON table and PNG plots.

    ``runs`` maps a display name to a run folder (its ``best/`` is used) or a checkpoint folder.
    """
    import torch

    from signdistill.evaluation.report import PLOTS_SKIPPED, markdown_table, plot_all, plots_available
    from signdistill.io import write_json_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    posteriors: dict[str, torch.Tensor] = {}
    utt_info: dict[str, Any] = {}
    run_dirs: dict[str, Path] = {}
    for name, path in runs.items():
        path = Path(path)
        ckpt_dir = path / "best" if (path / "best").is_dir() else path
        run_dirs[name] = path if (path / "best").is_dir() else path.parent
        res = evaluate(ckpt_dir, manifest, decoder=decoder, compare_greedy=True, cleanup=cleanup, device=device)
        for dec in ("greedy", "beam"):
            if dec in res:
                rows.append(
                    {
                        "model": name,
                        "decoder": dec,
                        "parameters": res["parameters"],
                        **{k: res[dec][k] for k in ("wer", "substitutions", "deletions", "insertions", "sentence_error_rate")},
                    }
                )
        ckpt = load_checkpoint(ckpt_dir)
        data = SignDataset(read_manifest(manifest), ckpt.vocab, ckpt.normalizer, source=str(manifest))
        idx = 0
        if utterance is not None:
            ids = [u.id for u in data.utterances]
            if utterance not in ids:
                raise ConfigError(f"--utterance {utterance!r} is not in {manifest}.")
            idx = ids.index(utterance)
        item = data[idx]
        with torch.no_grad():
            posteriors[name] = ckpt.model(item["features"][None], torch.tensor([item["features"].shape[0]])).logits[0].float()
        u = data.utterances[idx]
        utt_info = {"id": u.id, "reference": list(u.glosses), "reference_ids": ckpt.vocab.encode(u.glosses), "tokens": ckpt.vocab.tokens}
    table = markdown_table(rows)
    write_text_atomic(out / "report.md", f"# signdistill report\n\nmanifest: `{manifest}`\n\n{table}")
    plots = plot_all(rows, run_dirs, posteriors, utt_info, out)
    result = {"manifest": str(manifest), "rows": rows, "plots": [str(p) for p in plots], "utterance": utt_info.get("id")}
    if not plots_available():
        result["plots_skipped"] = PLOTS_SKIPPED
    write_json_atomic(out / "report.json", result)
    return result
