"""Training commands: train-teacher, distill, cache-teacher, import-teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signdistill.cli import ConfigOpt, OverwriteOpt, SetOpt, handle_errors, render
from signdistill.defaults import TEACHER_TOPK


@handle_errors
def train_teacher(config: ConfigOpt, set_: SetOpt = None, overwrite: OverwriteOpt = False) -> None:
    """Train a CTC BiLSTM from a config (a teacher, or the baseline student from a student config)."""
    from signdistill import pipelines
    from signdistill.config import RunConfig, load_config
    from signdistill.console import RichReporter

    cfg = load_config(config, set_ or [], RunConfig)
    result, scores = pipelines.train(cfg, reporter=RichReporter(cfg.train.progress), overwrite=overwrite)
    render.wer_results(f"{cfg.run_dir}/best (epoch {result.best_epoch})", scores)


@handle_errors
def distill(config: ConfigOpt, set_: SetOpt = None, overwrite: OverwriteOpt = False) -> None:
    """Distill frozen teacher(s) into a student (frame KD, features, sequence KD, cached teachers)."""
    from signdistill import pipelines
    from signdistill.config import DistillRunConfig, load_config
    from signdistill.console import RichReporter

    cfg = load_config(config, set_ or [], DistillRunConfig)
    result, scores = pipelines.distill(cfg, reporter=RichReporter(cfg.train.progress, "distill"), overwrite=overwrite)
    render.wer_results(f"{cfg.run_dir}/best (epoch {result.best_epoch})", scores)
    passed = pipelines.teacher_passed_note(cfg, result.best_dev_wer)
    if passed is not None:
        render.line(passed, highlight=False)
    render.line(pipelines.distill_note(), highlight=False)


@handle_errors
def cache_teacher(
    config: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Cache folder to write.")],
    topk: Annotated[int, typer.Option(help="Classes kept per frame.")] = TEACHER_TOPK,
    set_: SetOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous teacher cache (only that).")] = False,
) -> None:
    """Run the teacher(s) once over the training set and store top-k outputs (offline distillation)."""
    from signdistill import pipelines
    from signdistill.config import DistillRunConfig, load_config
    from signdistill.io import refuse_output_clashes

    cfg = load_config(config, set_ or [], DistillRunConfig)
    refuse_output_clashes([("--out", out)], [("--config", config)])
    info = pipelines.cache_teacher(cfg, out, topk=topk, overwrite=overwrite)
    render.line(f"cached {info['utterances']} utterances, {info['frames']} frames, {info['bytes_per_frame']:.1f} B/frame -> {out}")


@handle_errors
def import_teacher(
    folder: Annotated[Path, typer.Option("--import", help="Folder of <utterance id>.npy teacher outputs, (frames, classes) each.")],
    vocab: Annotated[Path, typer.Option("--vocab", help="The teacher's classes, one per line, in its index order.")],
    blank: Annotated[int, typer.Option("--blank", help="Index of the CTC blank in --vocab (said explicitly).")],
    manifest: Annotated[Path, typer.Option("--manifest", help="The student's training manifest (its ids name the files).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Teacher cache folder to write (distill.teacher_cache).")],
    stride: Annotated[int, typer.Option(help="Input frames per teacher frame (4 for two K5-P2 blocks).", min=1)] = 1,
    kind: Annotated[str, typer.Option(help="auto, logits or log-probs.")] = "auto",
    topk: Annotated[int, typer.Option(help="Classes kept per frame.", min=1)] = TEACHER_TOPK,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous teacher cache (only that).")] = False,
    unlabeled: Annotated[
        Path | None, typer.Option("--unlabeled", help="Also import the recordings of this data.unlabeled manifest (docs/unlabeled.md).")
    ] = None,
) -> None:
    """Import a teacher's outputs from another code base (any frame rate) as a teacher cache for distill."""
    from signdistill import pipelines

    r = pipelines.import_teacher_outputs(
        folder,
        vocab,
        manifest,
        out,
        blank=blank,
        stride=stride,
        kind=kind,  # type: ignore[arg-type]  # checked in the library (an error naming --kind)
        topk=topk,
        overwrite=overwrite,
        unlabeled=unlabeled,
    )
    merged = f"; {len(r.merged_glosses)} teacher-only class(es) merged into <unk>" if r.merged_glosses else ""
    render.line(f"imported {r.utterances} utterances ({r.kind}, stride {r.stride}){merged} -> {r.out}")
