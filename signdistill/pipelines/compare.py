"""`signdistill compare`: does distillation help on this data, and which recipe?

Every (recipe, seed, tuning point) of the plan (:mod:`signdistill.pipelines.compare_plan`) is
trained as its own process with one torch thread: ``jobs`` at a time on this machine, or one submitit
job each, locally or on SLURM (:mod:`signdistill.pipelines.executor`); a finished run is reused when
the comparison is run again. Per recipe the tuning point with the best
mean dev WER over seeds is kept (the baseline gets the same grid), then every kept model (and the
teacher) is optionally scored with LM beam search whose alpha/beta are tuned on dev for that model.
:mod:`signdistill.pipelines.compare_report` then compares each recipe with ``ctc`` by a paired
bootstrap over test utterances and seeds (:mod:`signdistill.evaluation.stats`), and writes
``OUT/results.json`` and ``OUT/results.md``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import yaml

from signdistill.config import CompareConfig, DistillRunConfig, RunConfig, load_config
from signdistill.errors import ConfigError, SignDistillError
from signdistill.io import write_json_atomic, write_text_atomic
from signdistill.pipelines.compare_inputs import check_inputs
from signdistill.pipelines.compare_plan import Job, Plan, _same_run, checkpoint_job, plan
from signdistill.pipelines.compare_plan import point_label as point_label  # importable from here as before
from signdistill.pipelines.compare_plan import tuning_points as tuning_points
from signdistill.pipelines.compare_report import SCHEMA_VERSION, choose_points, summarize, teacher_scores, write_results
from signdistill.pipelines.compare_report import results_markdown as results_markdown  # importable from here as before
from signdistill.pipelines.compare_report import results_tables as results_tables
from signdistill.pipelines.compare_results import CompareResults, CompareSubmitted
from signdistill.pipelines.executor import Engine, Task, exclusive, run_tasks
from signdistill.pipelines.executor import Event as Event  # importable from here as before

log = logging.getLogger(__name__)

RESULT_FILE = "compare_run.json"
BEAM_FILE = "compare_beam.json"


# -- one run (executed in a worker process) ---------------------------------------------------


def _limit_threads(n: int) -> None:
    import torch

    # A worker's warnings (e.g. "dev WER was still falling") would arrive unlabelled among the
    # progress lines; results.json carries them per run instead (best_epoch vs epochs_run).
    logging.getLogger("signdistill").setLevel(logging.ERROR)

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def _sha256(path: str | Path) -> str | None:
    import hashlib

    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cache_sha256(cache: str | Path) -> str | None:
    """A teacher cache's content: its index.json and every shard it names (a re-import keeps the index's bytes)."""
    import hashlib

    index = Path(cache) / "index.json"
    if not index.is_file():
        return None
    text = index.read_text(encoding="utf-8")
    try:
        shards = json.loads(text).get("shards", [])
    except ValueError:  # unreadable: its bytes are all there is to compare
        shards = []
    parts = [_sha256(index) or ""] + [f"{s}:{_sha256(Path(cache) / s)}" for s in shards]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def fingerprint(job: Job, *, lm: bool = False) -> dict[str, str | None]:
    """What a run's result depends on beyond its config: manifests, teacher weights (or cache), LM file."""
    data = job.config.get("data", {})
    fp = {f"data.{k}": _sha256(data[k]) for k in ("train", "dev", "test") if data.get(k)}
    for k, path in job.manifests.items():
        fp.setdefault(f"data.{k}", _sha256(path))
    if job.distill:
        d = job.config["distill"]
        if d.get("teachers"):
            fp["teacher"] = _sha256(Path(d["teachers"][0]["checkpoint"]) / "model.safetensors")
        else:
            fp["teacher"] = _cache_sha256(d["teacher_cache"])
    if lm and job.lm is not None:
        fp["lm"] = _sha256(job.lm["path"])
    return fp


def _check_same_inputs(prev: dict[str, Any], now: dict[str, str | None], job: Job, file: str) -> None:
    before = prev.get("fingerprint")
    if before is None or before == now:
        return
    changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    raise SignDistillError(
        f"compare: the finished run {job.name!r} in {Path(job.config['run_dir'])} was made with other inputs "
        f"({', '.join(changed)} changed since, same paths). Nothing was changed; use a new --out folder, "
        f"or delete {Path(job.config['run_dir']) / file} to redo this run."
    )


def finished_run(job: Job) -> dict[str, Any] | None:
    """A finished run's result (``compare_run.json``) when its settings and inputs are this job's; else None."""
    done = Path(job.config["run_dir"]) / RESULT_FILE
    if not done.is_file():
        return None
    prev: dict[str, Any] = json.loads(done.read_text(encoding="utf-8"))
    if not _same_run(prev.get("config", {}), job.config) or prev.get("schema") != SCHEMA_VERSION:
        return None
    _check_same_inputs(prev, fingerprint(job), job, RESULT_FILE)
    prev["reused"] = True
    return prev


def run_job(job: Job) -> dict[str, Any]:
    """Train (or resume) one run and score dev and test greedily; reuse a finished run."""
    _limit_threads(job.threads)
    from signdistill.pipelines.training import distill, train

    prev = finished_run(job)
    if prev is not None:
        return prev
    run_dir = Path(job.config["run_dir"])
    done = run_dir / RESULT_FILE
    fp = fingerprint(job)
    t0 = time.time()
    if job.distill:
        result, scores = distill(load_config(None, [], DistillRunConfig, data=job.config))
    else:
        result, scores = train(load_config(None, [], RunConfig, data=job.config))
    from signdistill.checkpoint import load_checkpoint

    best = load_checkpoint(run_dir / "best")
    out = {
        "schema": SCHEMA_VERSION,
        "name": job.name,
        "recipe": job.recipe,
        "seed": job.seed,
        "point": job.point,
        "config": job.config,
        "parameters": best.model.num_parameters(),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "first_nonblank_step": result.first_nonblank_step,
        "fingerprint": fp,
        "seconds": round(time.time() - t0, 1),
        "dev": {"wer": scores["dev"]["wer"], "hypotheses": scores["dev"]["hypotheses"]},
        "test": {"wer": scores["test"]["wer"], "hypotheses": scores["test"]["hypotheses"]},
    }
    write_json_atomic(done, out)
    out["reused"] = False
    return out


def _beam_fingerprint(job: Job) -> dict[str, str | None]:
    assert job.lm is not None
    run_dir = Path(job.config["run_dir"])
    fp = {"model": _sha256(run_dir / "best" / "model.safetensors"), "lm": _sha256(job.lm["path"])}
    fp.update({f"data.{k}": _sha256(v) for k, v in job.manifests.items()})
    return fp


def finished_beam(job: Job) -> dict[str, Any] | None:
    """A finished beam tuning's result (``compare_beam.json``) for this model, LM and data; else None."""
    done = Path(job.config["run_dir"]) / BEAM_FILE
    if not done.is_file():
        return None
    prev: dict[str, Any] = json.loads(done.read_text(encoding="utf-8"))
    if prev.get("lm") != job.lm or prev.get("schema") != SCHEMA_VERSION:
        return None
    _check_same_inputs(prev, _beam_fingerprint(job), job, BEAM_FILE)
    prev["reused"] = True
    return prev


def run_beam_job(job: Job) -> dict[str, Any]:
    """Tune alpha/beta on dev for this run's best model; score dev and test with them."""
    _limit_threads(job.threads)
    from signdistill.decoding.beam import DecoderConfig
    from signdistill.pipelines.decoding import evaluate, tune_decoder

    prev = finished_beam(job)
    if prev is not None:
        return prev
    assert job.lm is not None
    run_dir = Path(job.config["run_dir"])
    done = run_dir / BEAM_FILE
    fp = _beam_fingerprint(job)
    t0 = time.time()
    decoder_json = run_dir / "decoder.json"
    decoder_json.unlink(missing_ok=True)  # our own file from an interrupted earlier attempt
    lm = job.lm
    t = tune_decoder(
        run_dir / "best", job.manifests["dev"], lm["path"], decoder_json, alphas=lm["alphas"], betas=lm["betas"],
        beam_width=lm["beam_width"], device="cpu",
    )  # fmt: skip
    tuned = DecoderConfig(beam_width=lm["beam_width"], alpha=t.best.alpha, beta=t.best.beta, lm=str(lm["path"]))
    out: dict[str, Any] = {"schema": SCHEMA_VERSION, "lm": lm, "alpha": tuned.alpha, "beta": tuned.beta, "fingerprint": fp}
    for split in ("dev", "test"):
        e = evaluate(run_dir / "best", job.manifests[split], decoder=tuned, device="cpu")
        out[split] = {"wer": e.wer, "hypotheses": e.hypotheses}
    out["seconds"] = round(time.time() - t0, 1)
    write_json_atomic(done, out)
    out["reused"] = False
    return out


# -- the comparison (its runs go through pipelines.executor) ------------------------------------


def compare(
    cfg: CompareConfig, *, out: str | Path | None = None, jobs: int | None = None, on_event: Event | None = None, detach: bool = False
) -> CompareResults | CompareSubmitted:
    """Run the comparison a :class:`~signdistill.config.CompareConfig` describes.

    ``cfg.executor.kind`` picks where the runs execute (``local`` processes, ``jobs`` at a time, or one
    submitit job per run: ``submitit-local`` or ``slurm``). With ``detach`` (submitit only) the call
    returns once the runs are submitted, a :class:`~signdistill.pipelines.compare_results.CompareSubmitted`
    (its ``to_dict()``: ``{"detached": True, "submitted": [job ids], ...}``); the same call without
    ``detach`` later waits for them and collects the results.

    Returns:
        :class:`~signdistill.pipelines.compare_results.CompareResults` (its ``to_dict()`` is ``results.json``),
        or :class:`~signdistill.pipelines.compare_results.CompareSubmitted` with ``detach``.
    """
    check_inputs(cfg)
    if cfg.executor.kind != "local":
        from signdistill.pipelines.executor_submitit import require_submitit

        require_submitit(cfg.executor.kind)
    elif detach:
        raise ConfigError(
            "compare: --detach needs runs that live on without compare: use --executor slurm or submitit-local "
            "(the local executor's runs stop with compare)."
        )
    out_dir = Path(out) if out is not None else Path(cfg.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"compare: --out {out_dir} exists and is not a folder. Pick another path.")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not _is_comparison(out_dir):
        found = sorted(p.name for p in out_dir.iterdir())
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise ConfigError(
            f"compare: --out {out_dir} exists and holds files that are not a comparison ({shown}). Nothing was changed; pick another path."
        )
    workers = jobs or os.cpu_count() or 1
    p = plan(cfg, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(out_dir):
        write_json_atomic(out_dir / MARKER, {"signdistill": "compare", "schema": SCHEMA_VERSION})
        resolved = cfg.model_dump(mode="json") | {"out": str(out_dir)}
        write_text_atomic(out_dir / RESOLVED, yaml.safe_dump(resolved, sort_keys=False))
        return _compare(cfg, p, out_dir, workers, on_event, detach)


MARKER = ".signdistill-compare.json"
RESOLVED = "compare.resolved.yaml"


def _is_comparison(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def _engine(cfg: CompareConfig, out_dir: Path, workers: int) -> Engine | None:
    """The engine of ``cfg.executor.kind`` (None: run_tasks' own local process pool)."""
    if cfg.executor.kind == "local":
        return None
    from signdistill.pipelines.executor_submitit import SubmititEngine

    return SubmititEngine(cfg.executor, out_dir / "submitit", workers)


def _detached(out_dir: Path, engine: Engine | None, done: dict[str, Any], tasks: list[Task]) -> CompareSubmitted:
    submitted = list(getattr(engine, "submitted", []))
    waiting = [t.job.name for t in tasks if t.key not in done]
    log.info("compare: %d jobs submitted; %d runs not finished yet", len(submitted), len(waiting))
    return CompareSubmitted(str(out_dir), submitted, waiting)


def _compare(
    cfg: CompareConfig, p: Plan, out_dir: Path, workers: int, on_event: Event | None, detach: bool
) -> CompareResults | CompareSubmitted:
    t0 = time.time()
    # The CTC-only runs need no teacher: they train beside it; the distilled runs follow it.
    # Without a tuning grid a model's beam search starts as soon as the model is trained;
    # with one, it waits until every point of its recipe is trained and the best one chosen.
    teacher_key = "teacher" if p.teacher_job is not None else None
    tasks = [Task("teacher", run_job, p.teacher_job, "train", (), finished_run)] if p.teacher_job is not None else []
    for i, job in enumerate(p.jobs):
        tasks.append(Task(f"run{i}", run_job, job, "train", (teacher_key,) if job.distill and teacher_key else (), finished_run))
    if cfg.lm is not None and p.teacher_cache is None:  # a cache holds the training split only: no teacher to score
        teacher_beam_job = copy.copy(p.teacher_job) if p.teacher_job is not None else checkpoint_job(p, cfg)
        tasks.append(Task("beam-teacher", run_beam_job, teacher_beam_job, "beam", (teacher_key,) if teacher_key else (), finished_beam))
        if len(p.points) == 1:
            tasks += [Task(f"beam{i}", run_beam_job, job, "beam", (f"run{i}",), finished_beam) for i, job in enumerate(p.jobs)]
    engine = _engine(cfg, out_dir, workers)
    done = run_tasks(tasks, workers, on_event, engine, detach=detach)
    if len(done) < len(tasks):
        return _detached(out_dir, engine, done, tasks)
    runs = [done[f"run{i}"] for i in range(len(p.jobs))]
    chosen, tuning = choose_points(p, runs)
    beams: dict[int, dict[str, Any]] = {}
    if cfg.lm is not None:
        later = [Task(f"beam{i}", run_beam_job, p.jobs[i], "beam", (), finished_beam) for i in chosen if f"beam{i}" not in done]
        done |= run_tasks(later, workers, on_event, engine, detach=detach)
        if any(f"beam{i}" not in done for i in chosen):
            return _detached(out_dir, engine, done, later)
        beams = {i: done[f"beam{i}"] for i in chosen}
    teacher = teacher_scores(cfg, p, done.get("teacher"), done.get("beam-teacher"))
    results = summarize(cfg, p, runs, chosen, tuning, beams, teacher)
    results["seconds"] = round(time.time() - t0, 1)
    if "contrasts" in results:  # results.json in CompareResults' field order
        results["contrasts"] = results.pop("contrasts")
    write_results(out_dir, results)
    return CompareResults.from_dict(results)
