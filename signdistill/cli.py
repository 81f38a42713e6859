"""The ``signdistill`` command line: a thin Typer layer over :mod:`signdistill.pipelines`.

Every user error ends in one readable message and exit code 2, without a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from signdistill import __version__
from signdistill.errors import SignDistillError


def _flags_take_no_value_in_help() -> None:
    """Render boolean flags as flags in the rich help (``--overwrite``, not ``--overwrite <bool>``).

    Since Typer 0.29 (which vendors click) the rich help panel asks every option for its type
    label, flags included, so ``--help`` itself reads ``--help <bool>``, as if it took a value;
    Typer's plain help and its documented examples show no type for a flag. Nothing in our
    options sets a metavar: this asks Typer's own option class for no label on flags, once.
    """
    try:
        from typer.core import TyperOption
    except ImportError:  # an older Typer: its rich help never labelled flags
        return
    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_flags_unlabelled", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return original(self, ctx)

    display_type_rich._flags_unlabelled = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value_in_help()

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
    """Print ``error: MESSAGE`` and exit. The message is plain text: brackets in it (an extra such as
    ``signdistill[onnx]``, a path, a list) are escaped, so rich does not take them for markup."""
    from rich.markup import escape

    from signdistill.console import console

    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _note(message: str) -> None:
    """Print a plain-text note (escaped like :func:`_fail`)."""
    from rich.markup import escape

    from signdistill.console import console

    console.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)


def handle_errors(fn: F) -> F:
    """Turn user errors into a message and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SignDistillError as exc:
            _fail(str(exc), code=getattr(exc, "exit_code", 2))
        except OSError as exc:  # a full disk, a vanished file, a permission: say so, no traceback
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            _fail(
                f"{exc.strerror or exc}{where}. Checkpoints are written atomically, so the last complete one is intact; "
                "fix the cause and run the same command again to resume."
            )
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
    size: Annotated[str, typer.Option(help="tiny, small, quickstart or default (docs/data.md).")] = "default",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a dataset data synth wrote before (only that).")] = False,
) -> None:
    """Generate the embedded synthetic keypoint dataset (train/dev/test manifests)."""
    from signdistill.console import console
    from signdistill.data.synth import SIZES, generate, is_synth_dataset
    from signdistill.io import check_output_path

    if size not in SIZES:
        raise SignDistillError(f"--size {size!r} is not one of {sorted(SIZES)}.")
    check_output_path(out, kind="synthetic dataset", overwrite=overwrite, is_ours=is_synth_dataset)
    manifests = generate(out, seed=seed, size=size)
    for split, path in manifests.items():
        console.print(f"{split:>5}: {path}")


@data_app.command("check")
@handle_errors
def data_check(
    manifest: Annotated[Path, typer.Argument(help="JSONL manifest to validate.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --json file.")] = False,
) -> None:
    """Validate a dataset (files, NaN/inf, dimensions, CTC lengths) and print statistics."""
    from rich.markup import escape
    from rich.table import Table

    from signdistill.console import console, out
    from signdistill.data.check import check_manifest
    from signdistill.io import check_file_output

    check_file_output(json_out, "--json", overwrite)
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
            console.print(f"[red]problem:[/] {escape(p)}", highlight=False)
        more = len(report.problems) - 20
        _fail(
            f"{manifest}: {len(report.problems)} problem(s) found"
            + (f" ({more} not shown)" if more > 0 else "")
            + ". Fix or remove those utterances."
        )
    console.print(f"[green]ok[/]: {report.utterances} utterances, no problems.")


@data_app.command("import-phoenix")
@handle_errors
def data_import_phoenix(
    annotations: Annotated[Path, typer.Option("--annotations", help="Folder of train/dev/test annotation files (or one file).")],
    features: Annotated[Path, typer.Option("--features", help="Folder of per-utterance features (<split>/<id>.npy or <id>.npy).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the manifests.")],
    suffix: Annotated[str, typer.Option(help="Feature file suffix.")] = ".npy",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous import at --out (only that).")] = False,
) -> None:
    """Turn a PHOENIX-2014 / PHOENIX-2014-T / CSL-Daily annotation folder plus features into manifests."""
    import json

    from signdistill.console import console
    from signdistill.data.corpus import import_corpus, is_imported_corpus
    from signdistill.io import check_output_path

    replacing = check_output_path(out, kind="corpus import", overwrite=overwrite, is_ours=is_imported_corpus)
    previous = json.loads((out / "skipped.json").read_text(encoding="utf-8")) if replacing else {}
    report = import_corpus(annotations, features, out, suffix=suffix)
    for split, r in previous.items():  # a manifest of the previous import that this one did not rewrite
        if r["written"] and not report.get(split, {}).get("written"):
            (out / f"{split}.jsonl").unlink(missing_ok=True)
    for split, r in report.items():
        console.print(f"{split:>5}: {r['written']} utterances -> {out / (split + '.jsonl')}, {len(r['skipped'])} skipped")
        for s in r["skipped"][:5]:
            console.print(f"       skipped {s['id']}: {s['reason']}", highlight=False)
    console.print(f"every skipped utterance and why: {out / 'skipped.json'}")
    if not any(r["written"] for r in report.values()):
        _fail(f"No utterance of {annotations} had a feature file under {features}; check --features and --suffix.")


# -- training ----------------------------------------------------------------------------------


@app.command("train-teacher")
@handle_errors
def train_teacher(config: ConfigOpt, set_: SetOpt = None, overwrite: OverwriteOpt = False) -> None:
    """Train a CTC BiLSTM from a config (a teacher, or the baseline student from a student config)."""
    from signdistill import pipelines
    from signdistill.config import RunConfig, load_config
    from signdistill.console import RichReporter

    cfg = load_config(config, set_ or [], RunConfig)
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
    result, scores = pipelines.distill(cfg, reporter=RichReporter(cfg.train.progress, "distill"), overwrite=overwrite)
    _print_results(f"{cfg.run_dir}/best (epoch {result.best_epoch})", scores)
    from signdistill.console import console

    console.print(pipelines.distill_note(), highlight=False)


@app.command("cache-teacher")
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
    from signdistill.console import console
    from signdistill.io import check_output_path
    from signdistill.training.distill import is_teacher_cache

    cfg = load_config(config, set_ or [], DistillRunConfig)
    check_output_path(out, kind="teacher cache", overwrite=overwrite, is_ours=is_teacher_cache)
    info = pipelines.cache_teacher(cfg, out, topk=topk)
    console.print(f"cached {info['utterances']} utterances, {info['frames']} frames, {info['bytes_per_frame']:.1f} B/frame -> {out}")


@app.command("evaluate")
@handle_errors
def evaluate(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Checkpoint folder (e.g. runs/x/best) or any export folder.")],
    manifest: Annotated[Path, typer.Option("--manifest", help="JSONL manifest to score.")],
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Utterances per batch.")] = 32,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write scores and hypotheses as JSON.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    lm: Annotated[Path | None, typer.Option("--lm", help="ARPA (or KenLM binary) gloss LM: beam search.")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="LM weight.")] = None,
    beta: Annotated[float | None, typer.Option("--beta", help="Gloss insertion bonus.")] = None,
    beam_width: Annotated[int | None, typer.Option("--beam-width", min=1, help="Beam width (beam search even without --lm).")] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="pyctcdecode or flashlight.")] = None,
    decoder_config: Annotated[Path | None, typer.Option("--decoder-config", help="JSON written by tune-decoder.")] = None,
    compare_greedy: Annotated[bool, typer.Option("--compare-greedy", help="Also score greedy decoding, side by side.")] = False,
    teacher: Annotated[Path | None, typer.Option("--teacher", help="Another checkpoint to score on the same data.")] = None,
    phoenix_cleanup: Annotated[bool, typer.Option("--phoenix-cleanup", help="Apply the PHOENIX-2014 evaluation rewrites.")] = False,
    stm: Annotated[Path | None, typer.Option("--stm", help="Write references as sclite STM.")] = None,
    ctm: Annotated[Path | None, typer.Option("--ctm", help="Write hypotheses as sclite CTM.")] = None,
    processes: Annotated[int, typer.Option("--processes", min=1, help="Processes for beam search.")] = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files named by --json/--stm/--ctm.")] = False,
) -> None:
    """Decode a manifest (greedy, or beam search with a gloss LM) and report WER, S/D/I, SER, per-signer WER."""
    from rich.table import Table

    from signdistill import pipelines
    from signdistill.console import out
    from signdistill.io import check_file_output

    for option, path in (("--json", json_out), ("--stm", stm), ("--ctm", ctm)):
        check_file_output(path, option, overwrite)
    decoder = pipelines.decoder_from_options(
        lm=lm, alpha=alpha, beta=beta, beam_width=beam_width, backend=backend, decoder_config=decoder_config
    )
    kwargs: dict[str, Any] = {
        "batch_size": batch_size,
        "device": device,
        "decoder": decoder,
        "compare_greedy": compare_greedy,
        "cleanup": phoenix_cleanup,
        "processes": processes,
    }
    result = pipelines.evaluate(checkpoint, manifest, stm=stm, ctm=ctm, **kwargs)
    rows = {f"{checkpoint.parent.name}/{checkpoint.name} {k}": result[k] for k in ("greedy", "beam") if k in result}
    if teacher is not None:
        result["teacher"] = pipelines.evaluate(teacher, manifest, **kwargs)
        rows.update(
            {f"{teacher.parent.name}/{teacher.name} {k}": result["teacher"][k] for k in ("greedy", "beam") if k in result["teacher"]}
        )
    _print_results(f"{manifest}" + (" (PHOENIX clean-up)" if phoenix_cleanup else ""), rows)
    if result["per_signer"]:
        t = Table(title="per signer")
        t.add_column("signer")
        t.add_column("WER %", justify="right")
        for sg, w in result["per_signer"].items():
            t.add_row(sg, f"{w:.2f}")
        out.print(t)
    if json_out:
        _write_json(json_out, result)


lm_app = typer.Typer(help="Gloss n-gram language models.", no_args_is_help=True)
app.add_typer(lm_app, name="lm")


@lm_app.command("build")
@handle_errors
def lm_build(
    manifest: Annotated[Path, typer.Option("--manifest", help="Training manifest whose transcripts train the LM.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="ARPA file to write.")],
    order: Annotated[int, typer.Option("--order", help="n-gram order.")] = 3,
    phoenix_cleanup: Annotated[bool, typer.Option("--phoenix-cleanup", help="Apply the PHOENIX-2014 rewrites first.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an LM that lm build wrote before (only that).")] = False,
) -> None:
    """Build a gloss n-gram LM (interpolated modified Kneser-Ney) in ARPA format."""
    from signdistill import pipelines
    from signdistill.console import console
    from signdistill.decoding.lm import is_own_arpa
    from signdistill.io import check_output_path

    check_output_path(out, kind="language model", overwrite=overwrite, is_ours=is_own_arpa, folder=False)
    info = pipelines.build_lm(manifest, out, order=order, cleanup=phoenix_cleanup)
    console.print(f"{info['order']}-gram LM from {info['sentences']} transcripts ({info['vocabulary']} glosses) -> {out}")


@contextlib.contextmanager
def _grid_progress() -> Iterator[Callable[[int, int, dict[str, Any]], None]]:
    """A progress bar over decoder settings, with the best alpha/beta so far (on stderr, cleared at the end)."""
    from signdistill.console import progress_bar

    progress = progress_bar("tune-decoder", "{task.fields[best]}")
    task = progress.add_task("grid", total=None, best="running the model over the manifest")

    def on_progress(done: int, total: int, best: dict[str, Any]) -> None:
        text = f"best so far: alpha {best['alpha']:g}, beta {best['beta']:g}, WER {best['wer']:.2f}" if best else "settings tried"
        progress.update(task, completed=done, total=total, best=text)

    with progress:
        yield on_progress


@app.command("tune-decoder")
@handle_errors
def tune_decoder(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Checkpoint folder.")],
    manifest: Annotated[Path, typer.Option("--manifest", help="Dev manifest to tune on.")],
    lm: Annotated[Path, typer.Option("--lm", help="ARPA gloss LM.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Decoder settings (JSON) for evaluate --decoder-config.")],
    alpha: Annotated[str, typer.Option("--alpha", help="Range start:stop:step or list a,b,c.")] = "0:2:0.25",
    beta: Annotated[str, typer.Option("--beta", help="Range start:stop:step or list a,b,c.")] = "-1:2:1",
    beam_width: Annotated[int, typer.Option("--beam-width", min=1)] = 10,
    backend: Annotated[str, typer.Option("--backend", help="pyctcdecode or flashlight.")] = "pyctcdecode",
    search: Annotated[str, typer.Option("--search", help="grid, or random within the ranges.")] = "grid",
    trials: Annotated[int, typer.Option("--trials", min=1, help="Settings tried by random search.")] = 20,
    phoenix_cleanup: Annotated[bool, typer.Option("--phoenix-cleanup")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the whole table as JSON.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace settings tune-decoder wrote before (only those).")] = False,
) -> None:
    """Search LM weight (alpha) and insertion bonus (beta) on dev outputs computed once."""
    from rich.table import Table

    from signdistill import pipelines
    from signdistill.console import out as stdout
    from signdistill.decoding.beam import is_decoder_config
    from signdistill.io import check_output_path

    check_output_path(out, kind="decoder config", overwrite=overwrite, is_ours=is_decoder_config, folder=False)
    from signdistill.io import check_file_output

    check_file_output(json_out, "--json", overwrite)
    with _grid_progress() as on_progress:
        res = pipelines.tune_decoder(
            checkpoint,
            manifest,
            lm,
            out,
            alphas=pipelines.parse_grid(alpha, "alpha"),
            betas=pipelines.parse_grid(beta, "beta"),
            beam_width=beam_width,
            backend=backend,
            search=search,
            trials=trials,
            cleanup=phoenix_cleanup,
            on_progress=on_progress,
        )
    t = Table(title=f"tune-decoder on {manifest} (greedy WER {res['greedy_wer']:.2f})")
    for c in ("alpha", "beta", "WER %"):
        t.add_column(c, justify="right")
    for r in sorted(res["table"], key=lambda r: r["wer"])[:15]:
        t.add_row(f"{r['alpha']:g}", f"{r['beta']:g}", f"{r['wer']:.2f}" + (" *" if r is res["best"] else ""))
    stdout.print(t)
    stdout.print(f"best: alpha {res['best']['alpha']:g}, beta {res['best']['beta']:g}, WER {res['best']['wer']:.2f} -> {out}")
    if json_out:
        _write_json(json_out, res)


@app.command("report")
@handle_errors
def report(
    run: Annotated[
        list[str], typer.Option("--run", help="NAME=PATH of a run folder or checkpoint (repeatable; the first is drawn as the teacher).")
    ],
    manifest: Annotated[Path, typer.Option("--manifest", help="Manifest to compare on.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.md, report.json and PNG plots.")],
    lm: Annotated[Path | None, typer.Option("--lm", help="Also beam-search with this LM.")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha")] = None,
    beta: Annotated[float | None, typer.Option("--beta")] = None,
    beam_width: Annotated[int | None, typer.Option("--beam-width", min=1)] = None,
    decoder_config: Annotated[Path | None, typer.Option("--decoder-config")] = None,
    utterance: Annotated[str | None, typer.Option("--utterance", help="Utterance id for the posterior plot (default: the first).")] = None,
    phoenix_cleanup: Annotated[bool, typer.Option("--phoenix-cleanup")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous report at --out (only that).")] = False,
) -> None:
    """Compare models: WER table (Markdown/JSON), WER and training-curve plots, teacher vs student posteriors."""
    from signdistill import pipelines
    from signdistill.console import out as stdout
    from signdistill.evaluation.report import is_report
    from signdistill.io import check_output_path

    check_output_path(out, kind="report", overwrite=overwrite, is_ours=is_report)
    runs: dict[str, Path] = {}
    for item in run:
        if "=" not in item:
            raise SignDistillError(f"--run {item!r} must be NAME=PATH, e.g. --run teacher=runs/teacher.")
        name, path = item.split("=", 1)
        runs[name] = Path(path)
    decoder = pipelines.decoder_from_options(lm=lm, alpha=alpha, beta=beta, beam_width=beam_width, decoder_config=decoder_config)
    res = pipelines.report(runs, manifest, out, decoder=decoder, utterance=utterance, cleanup=phoenix_cleanup)
    stdout.print((out / "report.md").read_text(), markup=False)
    for p in res["plots"]:
        stdout.print(f"plot: {p}", markup=False)
    if res.get("plots_skipped"):
        _note(res["plots_skipped"])


@app.command("export")
@handle_errors
def export(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Checkpoint folder to export.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    format: Annotated[str, typer.Option("--format", "-f", help="safetensors, onnx or int8.")] = "safetensors",
    dtype: Annotated[str, typer.Option(help="fp32 or fp16 (safetensors only).")] = "fp32",
    check: Annotated[Path | None, typer.Option("--check", help="Manifest to run parity checks on after exporting.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous export at --out (only that).")] = False,
) -> None:
    """Export a trained model for deployment (weights, vocabulary and normalizer travel together)."""
    from signdistill import pipelines
    from signdistill.console import console

    path = pipelines.export(checkpoint, out, format=format, dtype=dtype, overwrite=overwrite)
    console.print(f"exported {checkpoint} -> {path} ({format}" + (f", {dtype})" if format == "safetensors" else ")"))
    if check is not None:
        verdict = pipelines.verify_export(checkpoint, path, check, format=format, dtype=dtype)
        res = verdict.figures
        for bs, r in res["by_batch_size"].items():
            diff, same = r["max_abs_logprob_diff"], 100 * r["identical_transcripts"]
            console.print(f"batch {bs}: max |log-prob diff| {diff:.2e}, identical transcripts {same:.1f}%")
        console.print(f"WER {res['wer_reference']:.2f} (checkpoint) vs {res['wer_export']:.2f} ({res['format']})")
        if not verdict.ok:
            _fail(f"{path}: the fp32 export decodes {100 * verdict.differing_share:.1f}% of utterances differently from the checkpoint.")


@app.command("benchmark")
@handle_errors
def benchmark(
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Benchmark this checkpoint as fp32, int8 and ONNX, side by side.")
    ] = None,
    model: Annotated[Path | None, typer.Option("--model", help="Benchmark one exported model folder.")] = None,
    threads: Annotated[
        int, typer.Option("--threads", min=1, help="CPU threads (pin them: unpinned runs on a shared machine vary 10x).")
    ] = 1,
    frames: Annotated[int, typer.Option("--frames", min=1, help="Frames per utterance.")] = 300,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Batch size for the batched figure.")] = 8,
    repeats: Annotated[int, typer.Option("--repeats", min=3, help="Timed repeats per figure (the best is kept).")] = 20,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the table as JSON.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --json file.")] = False,
) -> None:
    """Inference speed: frames/s (batch 1 and batched), latency percentiles, real-time factor, size, memory."""
    from rich.table import Table

    from signdistill import pipelines
    from signdistill.console import out as stdout

    report = pipelines.benchmark_models(
        checkpoint, model, threads=threads, frames=frames, batch=batch, repeats=repeats, json_out=json_out, overwrite=overwrite
    )
    results = report.results
    t = Table(title=f"inference, {frames} frames/utterance, {threads} thread(s)")
    cols = ("model", "frames/s b=1", f"frames/s b={batch}", "p50 ms", "p90 ms", "p99 ms", "RTF @30fps", "size", "vs fp32 b=1")
    for c in cols:
        t.add_column(c, justify="left" if c == "model" else "right")
    base = report.reference["frames_per_s_batch1"]
    for name, r in results.items():
        t.add_row(
            name,
            f"{r['frames_per_s_batch1']:,.0f}",
            f"{r['frames_per_s_batched']:,.0f}",
            f"{r['latency_ms_p50']:.2f}",
            f"{r['latency_ms_p90']:.2f}",
            f"{r['latency_ms_p99']:.2f}",
            f"{r['real_time_factor_at_30fps']:.4f}",
            f"{r['size_bytes'] / 1e6:.2f} MB",
            f"{r['frames_per_s_batch1'] / base:.2f}x",
        )
    stdout.print(t)
    int8 = report.int8_slower
    if int8 is not None:
        from signdistill.console import console

        fp32_mb = report.reference["size_bytes"] / 1e6
        console.print(
            f"note: int8 is {base / int8['frames_per_s_batch1']:.1f}x slower than fp32 at batch 1 for this model "
            f"({fp32_mb:.2f} MB fp32): its matrices are too small for quantized kernels to pay back the (de)quantization; "
            "in docs/benchmarks.md int8 pays only for the plan's 4x256 student (5.8 M parameters). Keep fp32 or ONNX here.",
            highlight=False,
        )


@app.command("compare")
@handle_errors
def compare(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML comparison config (see docs/compare.md).")] = None,
    set_: SetOpt = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Runs at once, one torch thread each (default: CPU cores).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: the config's `out`); reruns reuse it.")] = None,
    list_recipes: Annotated[bool, typer.Option("--list-recipes", help="Print the named recipes and exit.")] = False,
) -> None:
    """Seeds x recipes against the CTC baseline: mean +- std, paired 95 % intervals, gap recovered, verdicts."""
    from signdistill.console import out as stdout
    from signdistill.console import run_event_printer

    if list_recipes:
        from signdistill.recipes import RECIPES

        width = max(map(len, RECIPES)) + 1
        for name, r in RECIPES.items():
            stdout.print(f"{name:<{width}} {r.summary}", highlight=False, markup=False)
        return
    from signdistill.config import CompareConfig, load_config
    from signdistill.pipelines.compare import compare as run_compare
    from signdistill.pipelines.compare import results_tables

    if config is None:
        raise SignDistillError("compare needs --config FILE (see docs/compare.md), or --list-recipes.")
    if jobs is not None and jobs < 1:
        raise SignDistillError(f"--jobs must be >= 1, got {jobs}.")
    cfg = load_config(config, set_ or [], CompareConfig)

    on_event = run_event_printer({"train": "train", "beam": "LM beam"})
    results = run_compare(cfg, out=out, jobs=jobs, on_event=on_event)
    stdout.print(results_tables(results))
    where = out or cfg.out
    stdout.print(f"results: {where / 'results.json'} and {where / 'results.md'}", highlight=False)


@app.command("quickstart")
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
    from signdistill.console import console, run_event_printer
    from signdistill.console import out as stdout

    if size not in pipelines.QUICKSTART_SIZES:
        raise SignDistillError(f"--size {size!r} is not one of {sorted(pipelines.QUICKSTART_SIZES)}.")
    if seeds < 1:
        raise SignDistillError(f"--seeds must be >= 1, got {seeds}.")
    if not overwrite:  # check the folder before printing the plan, so a refusal is the only line shown
        pipelines.check_quickstart_out(out, size=size, seed=seed, seeds=seeds, overwrite=False)
    console.print(pipelines.quickstart_plan(size, seeds), highlight=False)

    on_event = run_event_printer({"train": "training", "beam": "LM beam tuning"}, {"ctc": "student (CTC only)", "default": "distilled"})
    report = pipelines.quickstart(out, size=size, seed=seed, seeds=seeds, jobs=jobs, overwrite=overwrite, on_event=on_event)
    stdout.print(pipelines.quickstart_table(report))
    stdout.print(
        f"everything is in {out}; report: {out / 'report.json'}. For more seeds and recipes: "
        f"signdistill compare -c {out / 'compare.yaml'} --set seeds=5",
        highlight=False,
    )


@app.command("transcribe")
@handle_errors
def transcribe(
    inputs: Annotated[list[Path], typer.Argument(help=".npy or .pose feature files, folders of them, or JSONL manifests.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Checkpoint or export folder (safetensors fp32/fp16, int8, onnx).")],
    format_: Annotated[str, typer.Option("--format", "-f", help="text, jsonl (glosses with frames and confidence) or ctm.")] = "text",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")] = None,
    lm: Annotated[Path | None, typer.Option("--lm", help="ARPA (or KenLM binary) gloss LM: beam search.")] = None,
    decoder_config: Annotated[Path | None, typer.Option("--decoder-config", help="JSON written by tune-decoder.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Inputs per batch.")] = 16,
    fps: Annotated[float, typer.Option("--fps", help="Feature frames per second (CTM times).")] = 25.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
) -> None:
    """Transcribe feature files with a checkpoint or any export (greedy, or beam search with an LM); runs without torch for ONNX."""
    import contextlib
    import sys

    from rich.markup import escape

    from signdistill import transcribe as tr
    from signdistill.console import console, progress_bar
    from signdistill.decoding.beam import decoder_from_options  # not via pipelines: transcribe runs without torch
    from signdistill.io import atomic_path, check_file_output

    if format_ not in tr.FORMATS:
        raise SignDistillError(f"--format {format_!r} is not supported; choose one of {list(tr.FORMATS)}.")
    if not fps > 0:
        raise SignDistillError(f"--fps must be > 0, got {fps:g}.")
    check_file_output(out, "--out", overwrite)
    decoder = decoder_from_options(lm=lm, decoder_config=decoder_config)
    loaded = tr.load_model(model)
    items, failures = tr.collect_inputs(inputs)

    def report(f: Any) -> None:
        console.print(f"[bold red]error:[/] {escape(f.message)}", highlight=False, soft_wrap=True)

    for f in failures:
        report(f)
    done = 0
    try:
        with contextlib.ExitStack() as stack:
            sink = stack.enter_context(open(stack.enter_context(atomic_path(out)), "w", encoding="utf-8")) if out else sys.stdout
            show = len(items) >= 20 and console.is_terminal  # a bar where someone watches many inputs
            progress = stack.enter_context(progress_bar("transcribe", "{task.fields[failed]} failed")) if show else None
            if progress is not None:
                task = progress.add_task("inputs", total=len(items), failed=len(failures))
            for res in tr.transcribe(loaded, items, batch_size=batch_size, decoder=decoder):
                if isinstance(res, tr.Failure):
                    failures.append(res)
                    report(res)
                else:
                    done += 1
                    sink.write(tr.format_transcript(res, format_, fps=fps))
                if progress is not None:
                    progress.update(task, advance=1, failed=len(failures))
            sink.flush()
    except BrokenPipeError:  # the reader stopped early (`| head`): stop quietly, as cat does
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    if failures:
        where = f" to {out}" if out else ""
        _fail(f"{len(failures)} input(s) could not be transcribed (listed above); the other {done} were written{where}.")


def main() -> None:
    """Console-script entry point."""
    app()
