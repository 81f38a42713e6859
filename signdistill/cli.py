"""The ``signdistill`` command line: a thin Typer layer over :mod:`signdistill.pipelines`.

Every user error ends in one readable message and exit code 2, without a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from signdistill import __version__
from signdistill.errors import SignDistillError

app = typer.Typer(
    name="signdistill",
    help="Train CTC models for continuous sign language recognition and distill a teacher into a small student.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
data_app = typer.Typer(help="Create and validate datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML run configuration.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a config value: key.path=value (repeatable).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Delete a run folder that holds a different run.")]


def _fail(message: str, code: int = 2) -> None:
    from signdistill.console import console

    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Turn user errors into a message and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SignDistillError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted.", code=130)

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"signdistill {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _write_json(path: Path, obj: Any) -> None:
    from signdistill.io import write_json_atomic

    write_json_atomic(path, obj)


def _print_results(title: str, scores: dict[str, Any]) -> None:
    from signdistill.console import out, wer_table

    out.print(wer_table(title, [(k, v) for k, v in scores.items() if isinstance(v, dict) and "wer" in v]))


# -- data ------------------------------------------------------------------------------------


@data_app.command("synth")
@handle_errors
def data_synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write manifests and features to.")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 0,
    size: Annotated[str, typer.Option(help="tiny, small or default.")] = "default",
) -> None:
    """Generate the embedded synthetic keypoint dataset (train/dev/test manifests)."""
    from signdistill.console import console
    from signdistill.data.synth import SIZES, generate

    if size not in SIZES:
        raise SignDistillError(f"--size {size!r} is not one of {sorted(SIZES)}.")
    manifests = generate(out, seed=seed, size=size)
    for split, path in manifests.items():
        console.print(f"{split:>5}: {path}")


@data_app.command("check")
@handle_errors
def data_check(
    manifest: Annotated[Path, typer.Argument(help="JSONL manifest to validate.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON.")] = None,
) -> None:
    """Validate a dataset (files, NaN/inf, dimensions, CTC lengths) and print statistics."""
    from rich.table import Table

    from signdistill.console import console, out
    from signdistill.data.check import check_manifest

    report = check_manifest(manifest)
    table = Table(title=f"{manifest}")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for k, v in report.stats.items():
        table.add_row(k, str(v))
    out.print(table)
    if json_out:
        _write_json(json_out, {"manifest": str(manifest), "ok": report.ok, "problems": report.problems, "stats": report.stats})
    if not report.ok:
        for p in report.problems[:20]:
            console.print(f"[red]problem:[/] {p}", highlight=False)
        more = len(report.problems) - 20
        _fail(f"{manifest}: {len(report.problems)} problem(s) found" + (f" ({more} not shown)" if more > 0 else "") + ". Fix or remove those utterances.")
    console.print(f"[green]ok[/]: {report.utterances} utterances, no problems.")


# -- training ----------------------------------------------------------------------------------


@app.command("train-teacher")
@handle_errors
def train_teacher(config: ConfigOpt, set_: SetOpt = None, overwrite: OverwriteOpt = False) -> None:
    """Train a CTC BiLSTM from a config (a teacher, or the baseline student from a student config)."""
    from signdistill import pipelines
    from signdistill.config import load_config
    from signdistill.console import RichReporter

    cfg = load_config(config, set_ or [])
    result, scores = pipelines.train(cfg, reporter=RichReporter(cfg.train.progress), overwrite=overwrite)
    _print_results(f"{cfg.run_dir}/best (epoch {result.best_epoch})", scores)


@app.command("distill")
@handle_errors
def distill(config: ConfigOpt, set_: SetOpt = None, overwrite: OverwriteOpt = False) -> None:
    """Distill frozen teacher(s) into a student (frame KD, features, sequence KD, cached teachers)."""
    from signdistill import pipelines
    from signdistill.config import DistillRunConfig, load_config
    from signdistill.console import RichReporter

    cfg = load_config(config, set_ or [], DistillRunConfig)
    result, scores = pipelines.distill(cfg, reporter=RichReporter(cfg.train.progress, "distill"), overwrite=overwrite)  # type: ignore[arg-type]
    _print_results(f"{cfg.run_dir}/best (epoch {result.best_epoch})", scores)


@app.command("cache-teacher")
@handle_errors
def cache_teacher(
    config: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Cache folder to write.")],
    topk: Annotated[int, typer.Option(help="Classes kept per frame.")] = 16,
    set_: SetOpt = None,
) -> None:
    """Run the teacher(s) once over the training set and store top-k outputs (offline distillation)."""
    from signdistill import pipelines
    from signdistill.config import DistillRunConfig, load_config
    from signdistill.console import console

    cfg = load_config(config, set_ or [], DistillRunConfig)
    info = pipelines.cache_teacher(cfg, out, topk=topk)  # type: ignore[arg-type]
    console.print(f"cached {info['utterances']} utterances, {info['frames']} frames, {info['bytes_per_frame']:.1f} B/frame -> {out}")


@app.command("evaluate")
@handle_errors
def evaluate(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Checkpoint folder (e.g. runs/x/best).")],
    manifest: Annotated[Path, typer.Option("--manifest", help="JSONL manifest to score.")],
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Utterances per batch.")] = 32,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write scores and hypotheses as JSON.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Greedy-decode a manifest with a checkpoint and report WER, S/D/I, SER and per-signer WER."""
    from rich.table import Table

    from signdistill import pipelines
    from signdistill.console import out

    result = pipelines.evaluate(checkpoint, manifest, batch_size=batch_size, device=device)
    _print_results(f"{checkpoint} on {manifest}", {manifest.stem: result})
    if result["per_signer"]:
        t = Table(title="per signer")
        t.add_column("signer")
        t.add_column("WER %", justify="right")
        for s, w in result["per_signer"].items():
            t.add_row(s, f"{w:.2f}")
        out.print(t)
    if json_out:
        _write_json(json_out, result)


@app.command("export")
@handle_errors
def export(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Checkpoint folder to export.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    format: Annotated[str, typer.Option("--format", "-f", help="safetensors (fp32 or fp16 weights + model JSON).")] = "safetensors",
    dtype: Annotated[str, typer.Option(help="fp32 or fp16.")] = "fp32",
) -> None:
    """Export a trained model for deployment (inference weights + vocabulary + normalizer)."""
    from signdistill import export as export_mod
    from signdistill.console import console

    path = export_mod.export(checkpoint, out, format=format, dtype=dtype)
    console.print(f"exported {checkpoint} -> {path}")


@app.command("quickstart")
@handle_errors
def quickstart(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the data, runs and report.")] = Path("quickstart"),
    size: Annotated[str, typer.Option(help="default (a few minutes on 2 cores) or small (for CI).")] = "default",
    seed: Annotated[int, typer.Option(help="Seed for data and training.")] = 0,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
    overwrite: OverwriteOpt = False,
) -> None:
    """Synthesize data, train teacher, baseline and distilled student, and compare them."""
    from signdistill import pipelines
    from signdistill.console import RichReporter, out as stdout

    report = pipelines.quickstart(out, size=size, seed=seed, threads=threads, reporter_factory=RichReporter, overwrite=overwrite)
    stdout.print(pipelines.quickstart_table(report))
    stdout.print(f"everything is in {out}; report: {out / 'report.json'}")


def main() -> None:
    """Console-script entry point."""
    app()

