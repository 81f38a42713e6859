"""Inference speed of a model on this machine (frames per second)."""

from __future__ import annotations

import time

import torch

from signdistill.models import CTCModel


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
