"""Deployment commands: export (with its parity check) and benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signdistill.cli import handle_errors, render
from signdistill.errors import SignDistillError


@handle_errors
def export(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Checkpoint folder to export.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    format: Annotated[str, typer.Option("--format", "-f", help="safetensors, onnx, int8 (PyTorch) or onnx-int8.")] = "safetensors",
    dtype: Annotated[str, typer.Option(help="fp32 or fp16 (safetensors only).")] = "fp32",
    quantize: Annotated[
        str | None, typer.Option("--quantize", help="onnx-int8 only: dynamic (default) or static (needs --calibration).")
    ] = None,
    calibration: Annotated[
        Path | None, typer.Option("--calibration", help="Manifest of typical inputs (e.g. dev) for --quantize static.")
    ] = None,
    check: Annotated[Path | None, typer.Option("--check", help="Manifest to run parity checks on after exporting.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous export at --out (only that).")] = False,
) -> None:
    """Export a trained model for deployment (weights, vocabulary and normalizer travel together)."""
    from signdistill import pipelines
    from signdistill.io import refuse_output_clashes

    refuse_output_clashes([("--out", out)], [("--checkpoint", checkpoint), ("--calibration", calibration), ("--check", check)])
    data = None
    if check is not None:  # read and checked before the export, not after it
        if not check.is_file():
            raise SignDistillError(f"--check {check} does not exist; give a manifest (.jsonl), e.g. data/synth/test.jsonl.")
        data = pipelines.read_check_manifest(checkpoint, check, "--check")
    path = pipelines.export(checkpoint, out, format=format, dtype=dtype, overwrite=overwrite, quantize=quantize, calibration=calibration)
    render.exported(checkpoint, path, format, (quantize or "dynamic") if format == "onnx-int8" else dtype)
    if data is not None:
        render.parity(pipelines.verify_export(checkpoint, path, data, format=format, dtype=dtype))


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
    repeats: Annotated[int, typer.Option("--repeats", min=3, help="Timed rounds, models interleaved (the best is kept).")] = 20,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="With --checkpoint: also check every export's parity and WER on this manifest.")
    ] = None,
    calibration: Annotated[
        Path | None, typer.Option("--calibration", help="With --checkpoint: add a static ONNX int8 export calibrated on this manifest.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the table as JSON.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier --json report of this command (only that).")] = False,
) -> None:
    """Inference speed: frames/s (batch 1 and batched), latency percentiles, real-time factor, size, memory."""
    from signdistill import pipelines
    from signdistill.io import refuse_output_clashes

    inputs = [("--checkpoint", checkpoint), ("--model", model), ("--manifest", manifest), ("--calibration", calibration)]
    refuse_output_clashes([("--json", json_out)], inputs)

    report = pipelines.benchmark_models(
        checkpoint,
        model,
        threads=threads,
        frames=frames,
        batch=batch,
        repeats=repeats,
        manifest=manifest,
        calibration=calibration,
        json_out=json_out,
        overwrite=overwrite,
    )
    render.benchmark(report)
