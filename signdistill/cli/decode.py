"""Decoding and scoring commands: evaluate, lm build, tune-decoder, report, transcribe."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from signdistill.cli import handle_errors, render
from signdistill.defaults import BEAM_BACKEND, BEAM_WIDTH
from signdistill.errors import SignDistillError

lm_app: typer.Typer = typer.Typer(help="Gloss n-gram language models.", no_args_is_help=True)


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
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace earlier --json/--stm/--ctm of evaluate (only those).")] = False,
) -> None:
    """Decode a manifest (greedy, or beam search with a gloss LM) and report WER, S/D/I, SER, per-signer WER."""
    from signdistill import pipelines
    from signdistill.evaluation.sclite import CTM_LINE, STM_LINE
    from signdistill.io import check_file_output, own_json, own_lines, refuse_output_clashes, write_json_atomic

    inputs = [("--checkpoint", checkpoint), ("--manifest", manifest), ("--lm", lm), ("--decoder-config", decoder_config)]
    refuse_output_clashes([("--json", json_out), ("--stm", stm), ("--ctm", ctm)], [*inputs, ("--teacher", teacher)])
    for option, path, ours, kind in (
        ("--json", json_out, own_json({"format", "parameters", "cleanup", "decoding"}), "an evaluate --json report"),
        ("--stm", stm, own_lines(STM_LINE), "an STM file"),
        ("--ctm", ctm, own_lines(CTM_LINE), "a CTM file"),
    ):
        check_file_output(path, option, overwrite, ours, kind)
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
    # The teacher first: --stm/--ctm are written with the checkpoint's result, so an unusable teacher leaves nothing behind.
    teacher_result = pipelines.evaluate(teacher, manifest, **kwargs) if teacher is not None else None
    result = pipelines.evaluate(checkpoint, manifest, stm=stm, ctm=ctm, **kwargs)
    result.teacher = teacher_result
    render.evaluation(manifest, checkpoint, teacher, result, cleanup=phoenix_cleanup)
    if json_out:
        write_json_atomic(json_out, result.to_dict())


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

    info = pipelines.build_lm(manifest, out, order=order, cleanup=phoenix_cleanup, overwrite=overwrite)
    render.line(f"{info.order}-gram LM from {info.sentences} transcripts ({info.vocabulary} glosses) -> {out}")


@handle_errors
def tune_decoder(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Checkpoint folder.")],
    manifest: Annotated[Path, typer.Option("--manifest", help="Dev manifest to tune on.")],
    lm: Annotated[Path, typer.Option("--lm", help="ARPA gloss LM.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Decoder settings (JSON) for evaluate --decoder-config.")],
    alpha: Annotated[str, typer.Option("--alpha", help="Range start:stop:step or list a,b,c.")] = "0:2:0.25",
    beta: Annotated[str, typer.Option("--beta", help="Range start:stop:step or list a,b,c.")] = "-1:2:1",
    beam_width: Annotated[int, typer.Option("--beam-width", min=1)] = BEAM_WIDTH,
    backend: Annotated[str, typer.Option("--backend", help="pyctcdecode or flashlight.")] = BEAM_BACKEND,
    search: Annotated[str, typer.Option("--search", help="grid, or random within the ranges.")] = "grid",
    trials: Annotated[int, typer.Option("--trials", min=1, help="Settings tried by random search.")] = 20,
    phoenix_cleanup: Annotated[bool, typer.Option("--phoenix-cleanup")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the whole table as JSON.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace settings and tables tune-decoder wrote before (only those).")
    ] = False,
) -> None:
    """Search LM weight (alpha) and insertion bonus (beta) on dev outputs computed once."""
    from signdistill import pipelines

    alphas, betas = pipelines.parse_grid(alpha, "alpha"), pipelines.parse_grid(beta, "beta")
    with render.grid_progress() as on_progress:
        res = pipelines.tune_decoder(
            checkpoint, manifest, lm, out, alphas=alphas, betas=betas, beam_width=beam_width, backend=backend,
            search=search, trials=trials, cleanup=phoenix_cleanup, on_progress=on_progress, json_out=json_out, overwrite=overwrite,
        )  # fmt: skip
    render.tuning(manifest, res, out)


@handle_errors
def report(
    run: Annotated[
        list[str], typer.Option("--run", help="NAME=PATH of a run folder or checkpoint (repeatable; the first is drawn as the teacher).")
    ],
    manifest: Annotated[Path, typer.Option("--manifest", help="Manifest to compare on.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.md, report.json and PNG plots.")],
    lm: Annotated[
        Path | None, typer.Option("--lm", help="Also beam-search with this LM (untuned alpha/beta: prefer --decoder-config).")
    ] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="LM weight (overrides --decoder-config).")] = None,
    beta: Annotated[float | None, typer.Option("--beta", help="Word insertion bonus (overrides --decoder-config).")] = None,
    beam_width: Annotated[int | None, typer.Option("--beam-width", min=1, help="Beam width (overrides --decoder-config).")] = None,
    decoder_config: Annotated[
        Path | None, typer.Option("--decoder-config", help="Beam search settings tuned on dev (JSON written by tune-decoder).")
    ] = None,
    utterance: Annotated[str | None, typer.Option("--utterance", help="Utterance id for the posterior plot (default: the first).")] = None,
    phoenix_cleanup: Annotated[bool, typer.Option("--phoenix-cleanup", help="Apply the PHOENIX-2014 evaluation rewrites first.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous report at --out (only that).")] = False,
) -> None:
    """Compare models: WER table (Markdown/JSON), WER and training-curve plots, teacher vs student posteriors."""
    from signdistill import pipelines

    runs: dict[str, Path] = {}
    for item in run:
        if "=" not in item:
            raise SignDistillError(f"--run {item!r} must be NAME=PATH, e.g. --run teacher=runs/teacher.")
        name, path = item.split("=", 1)
        runs[name] = Path(path)
    decoder = pipelines.decoder_from_options(lm=lm, alpha=alpha, beta=beta, beam_width=beam_width, decoder_config=decoder_config)
    res = pipelines.report(runs, manifest, out, decoder=decoder, utterance=utterance, cleanup=phoenix_cleanup, overwrite=overwrite)
    render.report(out, res)


@handle_errors
def transcribe(
    inputs: Annotated[list[Path], typer.Argument(help=".npy or .pose feature files, folders of them, or JSONL manifests.")],
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Checkpoint or export folder (safetensors fp32/fp16, int8, onnx, onnx-int8).")
    ],
    format_: Annotated[str, typer.Option("--format", "-f", help="text, jsonl (glosses with frames and confidence) or ctm.")] = "text",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")] = None,
    lm: Annotated[Path | None, typer.Option("--lm", help="ARPA (or KenLM binary) gloss LM: beam search.")] = None,
    decoder_config: Annotated[Path | None, typer.Option("--decoder-config", help="JSON written by tune-decoder.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Inputs per batch.")] = 16,
    fps: Annotated[float, typer.Option("--fps", help="Feature frames per second (CTM times).")] = 25.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier transcript at --out (only that).")] = False,
) -> None:
    """Transcribe feature files with a checkpoint or any export (greedy, or beam search with an LM); runs without torch for ONNX."""
    from signdistill import transcribe as tr
    from signdistill.decoding.beam import decoder_from_options  # not via pipelines: transcribe runs without torch

    if format_ not in tr.FORMATS:
        raise SignDistillError(f"--format {format_!r} is not supported; choose one of {list(tr.FORMATS)}.")
    if not fps > 0:
        raise SignDistillError(f"--fps must be > 0, got {fps:g}.")
    items, failures = tr.collect_inputs(inputs)
    named = [*tr.output_inputs(model, [i.path for i in items], lm=lm, decoder_config=decoder_config), *(("input", p) for p in inputs)]
    if out is not None:
        tr.check_transcript_file(out, overwrite=overwrite, inputs=named)  # before the model loads
    decoder = decoder_from_options(lm=lm, decoder_config=decoder_config)
    loaded = tr.load_model(model)
    for f in failures:
        render.error(f.message)
    done = 0
    try:
        with contextlib.ExitStack() as stack, render.transcribe_progress(len(items), len(failures)) as advance:
            vocabulary = set(loaded.vocab.tokens)  # an earlier transcript holds this model's glosses only
            sink: Any = (
                stack.enter_context(tr.transcript_file(out, overwrite=overwrite, inputs=named, vocabulary=vocabulary))
                if out
                else sys.stdout
            )
            for res in tr.transcribe(loaded, items, batch_size=batch_size, decoder=decoder):
                if isinstance(res, tr.Failure):
                    failures.append(res)
                    render.error(res.message)
                else:
                    done += 1
                    sink.write(tr.format_transcript(res, format_, fps=fps))
                advance(len(failures))
            if out is None:
                sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (`| head`): stop quietly, as cat does
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    _transcribe_verdict(failures, done, out)


def _transcribe_verdict(failures: list[Any], done: int, out: Path | None) -> None:
    """Exit 2 naming how many inputs failed (listed above) and what was written; nothing when all succeeded."""
    if not failures:
        return
    if out and not done:
        state = "was left unchanged" if out.exists() else "was not created"
        render.fail(f"{len(failures)} input(s) could not be transcribed (listed above); nothing was written, {out} {state}.")
    if not done:
        render.fail(f"{len(failures)} input(s) could not be transcribed (listed above); nothing was written.")
    where = f" to {out}" if out else " to stdout"
    render.fail(f"{len(failures)} input(s) could not be transcribed (listed above); the other {done} were written{where}.")
