"""Inference speed: one model's frames/s, and a checkpoint against its int8 and ONNX exports."""

from __future__ import annotations

import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from signdistill import export as export_mod
from signdistill.errors import SignDistillError
from signdistill.formats import CHECKPOINT_META, ONNX_FILE, load_model
from signdistill.models import CTCModel
from signdistill.runner import Model

if TYPE_CHECKING:
    from signdistill.parity import Data

FP32 = "fp32 (PyTorch)"
INT8 = "int8 (PyTorch dynamic)"
ONNX = "ONNX Runtime"
ONNX_INT8 = "ONNX Runtime int8 (dynamic)"
ONNX_INT8_STATIC = "ONNX Runtime int8 (static)"
_NAMES = {"int8": INT8, "onnx": ONNX, "onnx-int8": ONNX_INT8, "onnx-int8-static": ONNX_INT8_STATIC}
# each int8 model and the fp32 model it is measured against
INT8_BASELINES = {INT8: FP32, ONNX_INT8: ONNX, ONNX_INT8_STATIC: ONNX}


@torch.no_grad()
def frames_per_second(model: CTCModel, *, frames: int = 300, batch: int = 1, repeats: int = 5, threads: int | None = 1) -> float:
    """Median frames/s of ``repeats`` forward passes over ``batch`` utterances of ``frames`` frames."""
    prev = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        model = model.eval()
        x = torch.randn(batch, frames, model.spec.input_dim)
        lengths = torch.full((batch,), frames, dtype=torch.long)
        model(x, lengths)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x, lengths)
            times.append(time.perf_counter() - t0)
        times.sort()
        return batch * frames / times[len(times) // 2]
    finally:
        torch.set_num_threads(prev)


def benchmark(model: Model, *, frames: int = 300, batch: int = 8, repeats: int = 20, threads: int | None = 1) -> dict[str, float]:
    """One model's figures of :func:`measure`."""
    return measure({"model": model}, frames=frames, batch=batch, repeats=repeats, threads=threads)["model"]


def measure(
    models: dict[str, Model], *, frames: int = 300, batch: int = 8, repeats: int = 20, threads: int | None = 1
) -> dict[str, dict[str, float]]:
    """The package's one speed protocol, for models side by side: the same random inputs, threads
    pinned, one warm-up each, then ``repeats`` rounds that time every model once in turn, starting
    with a different model each round (so a busy moment, or going first, slows all of them alike).
    Frames/s are the best round; latencies are percentiles over rounds at batch 1; real-time factor
    against 30 frames/s; size on disk; peak memory growth during the warm-up (``ru_maxrss``: only
    growth above the process's peak so far counts, so it is a lower bound after the first model)."""
    import resource

    prev = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        rng = np.random.default_rng(0)
        d = next(iter(models.values())).input_dim
        one = (rng.standard_normal((1, frames, d)).astype(np.float32), np.array([frames], np.int64))
        many = (rng.standard_normal((batch, frames, d)).astype(np.float32), np.full(batch, frames, np.int64))
        rss: dict[str, float] = {}
        for name, m in models.items():
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            m.log_probs(*one)
            m.log_probs(*many)
            rss[name] = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        lat: dict[str, list[float]] = {name: [] for name in models}
        tb: dict[str, list[float]] = {name: [] for name in models}
        names = list(models)
        for times, inputs, rounds in ((lat, one, repeats), (tb, many, max(3, repeats // 4))):
            for r in range(rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    t0 = time.perf_counter()
                    models[name].log_probs(*inputs)
                    times[name].append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(prev)
    out = {}
    for name, m in models.items():
        lat_ms = np.array(lat[name]) * 1000
        fps1 = frames / min(lat[name])
        out[name] = {
            "frames_per_s_batch1": fps1,
            "frames_per_s_batched": batch * frames / min(tb[name]),
            "latency_ms_p50": float(np.percentile(lat_ms, 50)),
            "latency_ms_p90": float(np.percentile(lat_ms, 90)),
            "latency_ms_p99": float(np.percentile(lat_ms, 99)),
            "real_time_factor_at_30fps": 30.0 / fps1,
            "size_bytes": m.size_bytes(),
            "peak_rss_growth_mb": rss[name],
        }
    return out


@dataclass
class BenchmarkReport:
    """Speed figures per model (``results``, as the ``--json`` file holds them), first model the reference.

    Every figure is :func:`measure`'s. An int8 model slower at batch 1 than the fp32 model it
    replaces (PyTorch int8 against PyTorch fp32, ONNX int8 against ONNX fp32) carries
    ``"slower_than_fp32": True``; with a manifest, every model but the reference also carries
    ``"parity"`` (:func:`signdistill.parity.check_models`: log-prob difference, identical
    transcripts, WER of both).
    """

    frames: int
    batch: int
    threads: int
    results: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def reference(self) -> dict[str, Any]:
        """The first model's figures (fp32 for a checkpoint)."""
        return next(iter(self.results.values()))

    @property
    def int8_slower(self) -> dict[str, dict[str, Any]]:
        """The int8 models slower than their fp32 counterpart at batch 1, by name."""
        return {name: r for name, r in self.results.items() if r.get("slower_than_fp32")}


def _check_folders(checkpoint: str | os.PathLike[str] | None, model: str | os.PathLike[str] | None) -> None:
    """``--checkpoint`` must be a checkpoint (its exports are made here), ``--model`` any export folder."""
    if checkpoint is not None and (Path(checkpoint) / ONNX_FILE).is_file():
        raise SignDistillError(
            f"--checkpoint {checkpoint} is an ONNX export, not a checkpoint; benchmark it with --model {checkpoint}, "
            "or give the checkpoint it was exported from to compare every format."
        )
    if model is not None:
        p = Path(model)
        if not ((p / ONNX_FILE).is_file() or (p / CHECKPOINT_META).is_file()):
            raise SignDistillError(
                f"--model {p} holds neither model.onnx + model.json (an ONNX export) nor checkpoint.json + "
                "model.safetensors (a checkpoint or safetensors/int8 export). Point it at a folder written by "
                "`signdistill export`, or use --checkpoint for a training checkpoint."
            )


def benchmark_models(
    checkpoint: str | os.PathLike[str] | None = None,
    model: str | os.PathLike[str] | None = None,
    *,
    threads: int = 1,
    frames: int = 300,
    batch: int = 8,
    repeats: int = 20,
    manifest: str | os.PathLike[str] | None = None,
    calibration: str | os.PathLike[str] | None = None,
    json_out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> BenchmarkReport:
    """Benchmark a checkpoint as fp32, int8 and ONNX (fp32 and int8, exported to a temporary
    folder; static ONNX int8 too with a ``calibration`` manifest), or one exported model.

    Give exactly one of ``checkpoint`` and ``model``. With ``manifest``, every export is also
    checked against the checkpoint on it (parity and WER). ``json_out`` (refused if it exists,
    unless ``overwrite``) receives ``results``.
    """
    from signdistill.io import check_file_output, own_json, write_json_atomic
    from signdistill.parity import manifest_data

    _check_arguments(checkpoint, model, manifest, calibration)
    rows = own_json(check=lambda d: bool(d) and all(isinstance(v, dict) and "frames_per_s_batch1" in v for v in d.values()))
    check_file_output(json_out, "--json", overwrite, rows, "a benchmark --json table")
    reference = load_model(checkpoint, threads=threads) if checkpoint is not None else None
    data = None
    if manifest is not None and reference is not None:  # read and checked before minutes of exports and timing
        data = manifest_data(reference, manifest, "--manifest")
    results = _measure_formats(
        checkpoint, model, reference, data, calibration, threads=threads, frames=frames, batch=batch, repeats=repeats
    )
    for int8, fp32 in INT8_BASELINES.items():
        if int8 in results and fp32 in results and results[int8]["frames_per_s_batch1"] < results[fp32]["frames_per_s_batch1"]:
            results[int8]["slower_than_fp32"] = True
    report = BenchmarkReport(frames, batch, threads, results)
    if checkpoint is not None and ONNX not in results:
        report.notes.append("the ONNX rows are left out: exporting and running ONNX needs pip install 'signdistill[onnx]'.")
    if json_out:
        write_json_atomic(Path(json_out), results)
    return report


def _check_arguments(
    checkpoint: str | os.PathLike[str] | None,
    model: str | os.PathLike[str] | None,
    manifest: str | os.PathLike[str] | None,
    calibration: str | os.PathLike[str] | None,
) -> None:
    """:func:`benchmark_models`' arguments, checked before anything loads."""
    if (checkpoint is None) == (model is None):
        raise SignDistillError("Give exactly one of --checkpoint or --model.")
    if model is not None and (manifest is not None or calibration is not None):
        raise SignDistillError("--manifest and --calibration need --checkpoint (the exports are compared with it).")
    _check_folders(checkpoint, model)
    for flag, path in (("--manifest", manifest), ("--calibration", calibration)):
        if path is not None and not Path(path).is_file():
            raise SignDistillError(f"{flag} {path} does not exist; give a manifest (.jsonl), e.g. data/synth/dev.jsonl.")


def _measure_formats(
    checkpoint: str | os.PathLike[str] | None,
    model: str | os.PathLike[str] | None,
    reference: Model | None,
    data: Data | None,
    calibration: str | os.PathLike[str] | None,
    *,
    threads: int,
    frames: int,
    batch: int,
    repeats: int,
) -> dict[str, dict[str, Any]]:
    """:func:`measure` over the checkpoint and its temporary exports (or the one ``model``), plus
    parity against the checkpoint on ``data``; the exports are deleted afterwards."""
    from signdistill.parity import check_models

    targets: dict[str, Path] = {}
    tmp_root = None
    try:
        if checkpoint is not None:
            targets[FP32] = Path(checkpoint)
            tmp_root, paths = export_mod.temporary_exports(checkpoint, calibration=calibration)
            targets.update({_NAMES[k]: v for k, v in paths.items()})
        elif model is not None:
            targets[Path(model).name] = Path(model)
        # torch's quantization API warns about its own deprecation on every call: not the user's
        # business, and it would land in the middle of the table.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            loaded = {
                name: reference if name == FP32 and reference is not None else load_model(path, threads=threads)
                for name, path in targets.items()
            }
            results: dict[str, dict[str, Any]] = dict(measure(loaded, frames=frames, batch=batch, repeats=repeats, threads=threads))
            if data is not None:
                ref, *others = loaded
                for name, figures in check_models(loaded[ref], {n: loaded[n] for n in others}, data).items():
                    results[name]["parity"] = figures
    finally:
        if tmp_root is not None:
            shutil.rmtree(tmp_root, ignore_errors=True)
    return results
