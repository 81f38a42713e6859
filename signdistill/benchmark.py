"""Inference speed: one model's frames/s, and a checkpoint against its int8 and ONNX exports."""

from __future__ import annotations

import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from signdistill.errors import SignDistillError
from signdistill.models import CTCModel

FP32 = "fp32 (PyTorch)"
INT8 = "int8 (PyTorch dynamic)"
ONNX = "ONNX Runtime"


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


@dataclass
class BenchmarkReport:
    """Speed figures per model (``results``, as the ``--json`` file holds them), first model the reference.

    Every figure is :func:`signdistill.export.benchmark`'s; an int8 model slower than fp32 at
    batch 1 carries ``"slower_than_fp32": True``.
    """

    frames: int
    batch: int
    threads: int
    results: dict[str, dict[str, Any]]

    @property
    def reference(self) -> dict[str, Any]:
        """The first model's figures (fp32 for a checkpoint)."""
        return next(iter(self.results.values()))

    @property
    def int8_slower(self) -> dict[str, Any] | None:
        """The int8 figures when int8 is slower than fp32 at batch 1, else None."""
        int8 = self.results.get(INT8)
        return int8 if int8 is not None and int8.get("slower_than_fp32") else None


def benchmark_models(
    checkpoint: str | os.PathLike[str] | None = None,
    model: str | os.PathLike[str] | None = None,
    *,
    threads: int = 1,
    frames: int = 300,
    batch: int = 8,
    repeats: int = 20,
    json_out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> BenchmarkReport:
    """Benchmark a checkpoint as fp32, int8 and ONNX (exported to a temporary folder), or one exported model.

    Give exactly one of ``checkpoint`` and ``model``. ``json_out`` (refused if it exists, unless
    ``overwrite``) receives ``results``.
    """
    from signdistill import export as export_mod
    from signdistill.io import check_file_output, write_json_atomic

    if (checkpoint is None) == (model is None):
        raise SignDistillError("Give exactly one of --checkpoint or --model.")
    check_file_output(json_out, "--json", overwrite)
    targets: dict[str, Path] = {}
    tmp_root = None
    if checkpoint is not None:
        targets[FP32] = Path(checkpoint)
        tmp_root, paths = export_mod.temporary_exports(checkpoint)
        targets.update({(INT8 if k == "int8" else ONNX): v for k, v in paths.items()})
    elif model is not None:
        targets[Path(model).name] = Path(model)
    results = {}
    try:
        # torch's quantization API warns about its own deprecation on every call: not the user's
        # business, and it would land in the middle of the table.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            for name, path in targets.items():
                loaded = export_mod.load_inference_model(path, threads=threads)
                results[name] = export_mod.benchmark(loaded, frames=frames, batch=batch, repeats=repeats, threads=threads)
    finally:
        if tmp_root is not None:
            shutil.rmtree(tmp_root, ignore_errors=True)
    report = BenchmarkReport(frames, batch, threads, results)
    int8 = results.get(INT8)
    if int8 is not None and int8["frames_per_s_batch1"] < report.reference["frames_per_s_batch1"]:
        int8["slower_than_fp32"] = True
    if json_out:
        write_json_atomic(Path(json_out), results)
    return report
