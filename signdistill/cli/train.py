"""Training commands: train-teacher, distill, cache-teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signdistill.cli import ConfigOpt, OverwriteOpt, SetOpt, handle_errors, render


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
    render.line(pipelines.distill_note(), highlight=False)


@handle_errors
def cache_teacher(
    config: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Cache folder to write.")],
    topk: Annotated[int, typer.Option(help="Classes kept per frame.")] = 16,
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
