"""Comparison commands: compare (seeds x recipes against the CTC baseline) and quickstart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signdistill.cli import SetOpt, handle_errors, render
from signdistill.errors import SignDistillError


@handle_errors
def compare(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML comparison config (see docs/compare.md).")] = None,
    set_: SetOpt = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Runs at once, one torch thread each (default: CPU cores).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: the config's `out`); reruns reuse it.")] = None,
    executor: Annotated[
        str | None,
        typer.Option("--executor", "-e", help="local, submitit-local or slurm (default: the config's executor.kind; docs/compare.md)."),
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", help="submitit-local/slurm: exit once submitted; rerun to collect.")] = False,
    list_recipes: Annotated[bool, typer.Option("--list-recipes", help="Print the named recipes and exit.")] = False,
) -> None:
    """Seeds x recipes against the CTC baseline: mean +- std, paired 95 % intervals, gap recovered, verdicts."""
    if list_recipes:
        from signdistill.recipes import RECIPES

        render.recipes({name: r.summary for name, r in RECIPES.items()})
        return
    from signdistill.config import CompareConfig, load_config
    from signdistill.io import refuse_output_clashes
    from signdistill.pipelines.compare import compare as run_compare
    from signdistill.pipelines.compare_report import results_tables
    from signdistill.pipelines.compare_results import CompareResults

    if config is None:
        raise SignDistillError("compare needs --config FILE (see docs/compare.md), or --list-recipes.")
    if jobs is not None and jobs < 1:
        raise SignDistillError(f"--jobs must be >= 1, got {jobs}; or leave --jobs out to use every core.")
    overrides = [*(set_ or []), *([f"executor.kind={executor}"] if executor is not None else [])]
    cfg = load_config(config, overrides, CompareConfig)
    refuse_output_clashes(
        [("--out", out or cfg.out)], [("--config", config), *((f"data.{s}", getattr(cfg.data, s)) for s in ("train", "dev", "test"))]
    )
    results = run_compare(cfg, out=out, jobs=jobs, on_event=render.run_events({"train": "train", "beam": "LM beam"}), detach=detach)
    where = out or cfg.out
    if not isinstance(results, CompareResults):  # detached: submitted, not all finished
        render.stdout_line(
            f"submitted {len(results.submitted)} jobs ({', '.join(results.submitted) or 'none'}); "
            f"{len(results.waiting)} runs not finished yet. Collect the results with the same command without --detach "
            f"(it waits for the jobs still running; their logs are in {where / 'submitit'})."
        )
        return
    render.renderable(results_tables(results.to_dict()))
    render.stdout_line(f"results: {where / 'results.json'} and {where / 'results.md'}")


# One paragraph (typer keeps a docstring's line breaks in --help).
compare.__doc__ = (
    "Seeds x recipes against the CTC baseline: mean +- std, paired 95 % intervals, gap recovered, verdicts.\n\n"
    "The config names the data (train/dev/test manifests: `signdistill data synth` makes some), the teacher "
    "(a checkpoint, or a model compare trains once), the student, the recipes (--list-recipes), seeds, epochs "
    "and an optional LM. Start from examples/configs/compare_2p5x.yaml; docs/compare.md."
)


@handle_errors
def quickstart(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the data, runs and report.")] = Path("quickstart"),
    size: Annotated[str, typer.Option(help="default (about 2 minutes on 2 cores) or small (for CI).")] = "default",
    seed: Annotated[int, typer.Option(help="Seed for data and training (the first seed with --seeds).")] = 0,
    seeds: Annotated[int, typer.Option(help="Student seeds: 1 (test-set noise only) or more (training noise too).")] = 1,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Runs at once, one torch thread each (default: CPU cores).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete an earlier quickstart in --out first.")] = False,
) -> None:
    """Synthesize data, train teacher, baseline and distilled student, and compare them with an interval."""
    from signdistill import pipelines

    if size not in pipelines.QUICKSTART_SIZES:
        raise SignDistillError(f"--size {size!r} is not one of {sorted(pipelines.QUICKSTART_SIZES)}.")
    if seeds < 1:
        raise SignDistillError(f"--seeds must be >= 1, got {seeds}.")
    if jobs is not None and jobs < 1:
        raise SignDistillError(f"--jobs must be >= 1, got {jobs}; or leave --jobs out to use every core.")
    # Check the folder before printing the plan, so a refusal is the only line shown (nothing is deleted yet).
    pipelines.check_quickstart_out(out, size=size, seed=seed, seeds=seeds, overwrite=overwrite, dry_run=True)
    render.line(pipelines.quickstart_plan(size, seeds), highlight=False)
    on_event = render.run_events({"train": "training", "beam": "LM beam tuning"}, {"ctc": "student (CTC only)", "default": "distilled"})
    report = pipelines.quickstart(out, size=size, seed=seed, seeds=seeds, jobs=jobs, overwrite=overwrite, on_event=on_event)
    render.renderable(pipelines.quickstart_table(report.to_dict()))
    render.stdout_line(
        f"everything is in {out}; report: {out / 'report.json'}. For more seeds and recipes: "
        f"signdistill compare -c {out / 'compare.yaml'} --set seeds=5"
    )
