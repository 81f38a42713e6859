"""Everything the CLI prints: rich tables, notes, errors and progress bars (the library only logs).

Results go to stdout (``console.out``), messages to stderr (``console.console``); both are looked
up when printing, so a test may swap them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from signdistill import console as consoles

if TYPE_CHECKING:
    from rich.progress import Progress

    from signdistill.data.check import CheckReport
    from signdistill.pipelines import BenchmarkReport, DecodingScore, EvalResult, ParityVerdict, ReportResult, TuningResult


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: MESSAGE`` and exit. The message is plain text: brackets in it (an extra such as
    ``signdistill[onnx]``, a path, a list) are escaped, so rich does not take them for markup."""
    error(message)
    raise typer.Exit(code)


def error(message: str) -> None:
    """Print ``error: MESSAGE`` (escaped like :func:`fail`) and carry on."""
    consoles.console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """Print a plain-text note (escaped like :func:`fail`)."""
    consoles.console.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)


def line(message: str, *, highlight: bool = True) -> None:
    """One line on stderr (what a command did, where it wrote)."""
    consoles.console.print(message, highlight=highlight)


def stdout_line(message: str) -> None:
    """One plain line of results on stdout."""
    consoles.out.print(message, highlight=False)


def wer_results(title: str, scores: Mapping[str, Any]) -> None:
    """The WER table of every entry of ``scores`` that holds a WER."""
    consoles.out.print(consoles.wer_table(title, [(k, v) for k, v in scores.items() if isinstance(v, dict) and "wer" in v]))


# -- data --------------------------------------------------------------------------------------


def manifests(paths: Mapping[str, Path]) -> None:
    for split, path in paths.items():
        consoles.console.print(f"{split:>5}: {path}", markup=False)


def data_check(manifest: Path, report: CheckReport) -> None:
    """Statistics table, then the first 20 problems and exit 2, or ``ok``."""
    table = Table(title=f"{manifest}")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for k, v in report.stats.items():
        table.add_row(k, str(v))
    consoles.out.print(table)
    if not report.ok:
        for p in report.problems[:20]:
            consoles.console.print(f"[red]problem:[/] {escape(p)}", highlight=False)
        more = len(report.problems) - 20
        fail(
            f"{manifest}: {len(report.problems)} problem(s) found"
            + (f" ({more} not shown)" if more > 0 else "")
            + ". Fix or remove those utterances."
        )
    consoles.console.print(f"[green]ok[/]: {report.utterances} utterances, no problems.")


def corpus_import(report: Mapping[str, dict[str, Any]], annotations: Path, features: Path, out: Path) -> None:
    """Per split: utterances written and the first skipped ones; exit 2 when nothing was written."""
    console = consoles.console
    for split, r in report.items():
        where = out / (split + ".jsonl") if r["written"] else "no manifest written"
        console.print(f"{split:>5}: {r['written']} utterances -> {where}, {len(r['skipped'])} skipped", markup=False)
        for s in r["skipped"][:5]:
            console.print(f"       skipped {s['id']}: {s['reason']}", highlight=False, markup=False)
    console.print(f"every skipped utterance and why: {out / 'skipped.json'}", markup=False)
    if not any(r["written"] for r in report.values()):
        fail(f"No utterance of {annotations} had a feature file under {features}; check --features and --suffix.")


# -- decoding ----------------------------------------------------------------------------------


def evaluation(manifest: Path, checkpoint: Path, teacher: Path | None, result: EvalResult, *, cleanup: bool) -> None:
    """The WER table (the model's decoders, then the teacher's), and WER per signer when the manifest names signers."""
    rows = _decoder_rows(checkpoint, result)
    if teacher is not None and result.teacher is not None:
        rows.update(_decoder_rows(teacher, result.teacher))
    wer_results(f"{manifest}" + (" (PHOENIX clean-up)" if cleanup else ""), {k: v.to_dict() for k, v in rows.items()})
    if result.per_signer:
        t = Table(title="per signer")
        t.add_column("signer")
        t.add_column("WER %", justify="right")
        for sg, w in result.per_signer.items():
            t.add_row(sg, f"{w:.2f}")
        consoles.out.print(t)


def _decoder_rows(checkpoint: Path, result: EvalResult) -> dict[str, DecodingScore]:
    return {f"{checkpoint.parent.name}/{checkpoint.name} {k}": result.scores[k] for k in ("greedy", "beam") if k in result.scores}


@contextlib.contextmanager
def grid_progress() -> Iterator[Callable[[int, int, dict[str, Any]], None]]:
    """A progress bar over decoder settings, with the best alpha/beta so far (on stderr, cleared at the end)."""
    progress = consoles.progress_bar("tune-decoder", "{task.fields[best]}")
    task = progress.add_task("grid", total=None, best="")

    started = False

    def on_progress(done: int, total: int, best: dict[str, Any]) -> None:
        nonlocal started
        if not started:  # only once there is work to show: an error in the inputs prints nothing else
            progress.start()
            started = True
        text = f"best so far: alpha {best['alpha']:g}, beta {best['beta']:g}, WER {best['wer']:.2f}" if best else "settings tried"
        progress.update(task, completed=done, total=total, best=text)

    try:
        yield on_progress
    finally:
        if started:
            progress.stop()


def tuning(manifest: Path, res: TuningResult, out: Path) -> None:
    """The 15 best decoder settings (the chosen one starred) and where they were written."""
    t = Table(title=f"tune-decoder on {manifest} (greedy WER {res.greedy_wer:.2f})")
    for c in ("alpha", "beta", "WER %"):
        t.add_column(c, justify="right")
    for r in sorted(res.table, key=lambda r: r.wer)[:15]:
        t.add_row(f"{r.alpha:g}", f"{r.beta:g}", f"{r.wer:.2f}" + (" *" if r is res.best else ""))
    consoles.out.print(t)
    consoles.out.print(f"best: alpha {res.best.alpha:g}, beta {res.best.beta:g}, WER {res.best.wer:.2f} -> {out}")


def report(out: Path, res: ReportResult) -> None:
    """``report.md`` as written, the plots, and why plots were skipped."""
    consoles.out.print((out / "report.md").read_text(), markup=False)
    for p in res.plots:
        consoles.out.print(f"plot: {p}", markup=False)
    if res.plots_skipped:
        note(res.plots_skipped)


@contextlib.contextmanager
def transcribe_progress(total: int, failed: int) -> Iterator[Callable[[int], None]]:
    """``advance(failed_so_far)`` after each input: a bar on a terminal with many inputs, else nothing."""
    show = total >= 20 and consoles.console.is_terminal  # a bar where someone watches many inputs
    if not show:
        yield lambda failed: None
        return
    progress: Progress = consoles.progress_bar("transcribe", "{task.fields[failed]} failed")
    with progress:
        task = progress.add_task("inputs", total=total, failed=failed)
        yield lambda failed: progress.update(task, advance=1, failed=failed)


# -- deployment --------------------------------------------------------------------------------


def exported(checkpoint: Path, path: Path, format: str, dtype: str) -> None:
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6
    detail = f", {dtype}" if format in ("safetensors", "onnx-int8") else ""
    consoles.console.print(f"exported {checkpoint} -> {path} ({format}{detail}, {size:.2f} MB)", markup=False)


def parity(verdict: ParityVerdict) -> None:
    """Parity per batch size and the WER of both; exit 2 when an exact export decodes differently."""
    res = verdict.figures
    for bs, r in res["by_batch_size"].items():
        diff, same = r["max_abs_logprob_diff"], 100 * r["identical_transcripts"]
        consoles.console.print(f"batch {bs}: max |log-prob diff| {diff:.2e}, identical transcripts {same:.1f}%")
    consoles.console.print(f"WER {res['wer_reference']:.2f} (checkpoint) vs {res['wer_export']:.2f} ({res['format']})")
    if not verdict.ok:
        fail(f"{verdict.path}: the fp32 export decodes {100 * verdict.differing_share:.1f}% of utterances differently from the checkpoint.")


def benchmark(report: BenchmarkReport) -> None:
    """The speed table (stdout; parity and WER columns when a manifest was given), and a note per
    int8 model that is slower than the fp32 model it replaces (stderr)."""
    t = Table(title=f"inference, {report.frames} frames/utterance, {report.threads} thread(s), models interleaved, best of rounds")
    cols = ["model", "frames/s b=1", f"frames/s b={report.batch}", "p50 ms", "p90 ms", "p99 ms", "RTF @30fps", "size", "vs fp32 b=1"]
    checked = [r["parity"] for r in report.results.values() if "parity" in r]
    wer_reference = checked[0]["wer_reference"] if checked else float("nan")  # the same for every export
    if checked:
        cols += ["WER", "same transcripts (worst batch)"]
    for c in cols:
        t.add_column(c, justify="left" if c == "model" else "right")
    base = report.reference["frames_per_s_batch1"]
    for name, r in report.results.items():
        row = [
            name,
            f"{r['frames_per_s_batch1']:,.0f}",
            f"{r['frames_per_s_batched']:,.0f}",
            f"{r['latency_ms_p50']:.2f}",
            f"{r['latency_ms_p90']:.2f}",
            f"{r['latency_ms_p99']:.2f}",
            f"{r['real_time_factor_at_30fps']:.4f}",
            f"{r['size_bytes'] / 1e6:.2f} MB",
            f"{r['frames_per_s_batch1'] / base:.2f}x",
        ]
        if checked:
            p = r.get("parity")
            wer = p["wer_export"] if p else wer_reference
            row += [f"{wer:.2f}", f"{100 * p['identical_transcripts']:.1f}%" if p else "reference"]
        t.add_row(*row)
    consoles.out.print(t)
    from signdistill.pipelines import INT8_BASELINES, ONNX_INT8_STATIC

    for note in report.notes:
        consoles.console.print(f"note: {note}", highlight=False, markup=False)  # "signdistill[onnx]" is not markup

    for name, r in report.int8_slower.items():
        fp32 = report.results[INT8_BASELINES[name]]
        ratio = r["frames_per_s_batch1"] / fp32["frames_per_s_batch1"]
        if name == ONNX_INT8_STATIC:
            why = (
                "static quantization leaves the LSTMs in fp32 (onnxruntime has no static int8 LSTM) and adds "
                "(de)quantization around the rest; use --quantize dynamic (docs/export.md)."
            )
        else:
            why = (
                f"its matrices ({fp32['size_bytes'] / 1e6:.2f} MB in fp32) are too small for int8 kernels to pay back the "
                "(de)quantization (docs/export.md). Keep the fp32 model here unless the size on disk matters."
            )
        consoles.console.print(
            f"note: {name} runs at {ratio:.2f}x the speed of {INT8_BASELINES[name]} at batch 1: {why}", highlight=False, markup=False
        )


# -- compare and quickstart --------------------------------------------------------------------


def recipes(summaries: Mapping[str, str]) -> None:
    width = max(map(len, summaries)) + 1
    for name, summary in summaries.items():
        consoles.out.print(f"{name:<{width}} {summary}", highlight=False, markup=False)
    consoles.out.print(
        "\nName them in a comparison config, `recipes: [ctc, default, frame-kl]`, or override an example's: "
        "signdistill compare -c examples/configs/compare_2p5x.yaml --set 'recipes=[ctc, default]' (docs/compare.md).",
        highlight=False,
        markup=False,
    )


def run_events(phases: dict[str, str], rename: dict[str, str] | None = None) -> Any:
    """The ``on_event`` callback of compare/quickstart: one line per run start and end."""
    return consoles.run_event_printer(phases, rename)


def renderable(obj: Any) -> None:
    """A rich renderable a pipeline built (the compare and quickstart tables)."""
    consoles.out.print(obj)
