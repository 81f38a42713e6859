"""Inference speed of students that subsample time (model.temporal_stride 1, 2, 4), side by side.

    python benchmarks/stride_speed.py [--threads 1] [--layers 1] [--hidden 27] [--frames 300] [--repeats 20]

The same student size at each stride, fresh weights (speed does not depend on them), one
utterance of --frames frames (batch 1, the edge case) and a batch of 8; rounds interleave the
strides and the best round of each is kept. Prints input frames/s and the ratio to stride 1.
"""

from __future__ import annotations

import argparse
import time

import torch

from signdistill.models import CTCModel, ModelSpec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=27)
    ap.add_argument("--input-dim", type=int, default=36)
    ap.add_argument("--vocab", type=int, default=154)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {
        s: CTCModel(ModelSpec(args.input_dim, args.vocab, args.hidden, args.layers, args.hidden, 0.0, temporal_stride=s)).eval()
        for s in (1, 2, 4)
    }
    inputs = {b: (torch.randn(b, args.frames, args.input_dim), torch.full((b,), args.frames)) for b in (1, args.batch)}
    best = {(s, b): float("inf") for s in models for b in inputs}
    with torch.inference_mode():
        for m in models.values():  # warm-up
            for x, n in inputs.values():
                m(x, n)
        for _ in range(args.repeats):
            for b, (x, n) in inputs.items():
                for s, m in models.items():
                    t0 = time.perf_counter()
                    m(x, n)
                    best[(s, b)] = min(best[(s, b)], time.perf_counter() - t0)
    params = {s: m.num_parameters() for s, m in models.items()}
    print(f"{args.layers}x{args.hidden} student, {args.frames} frames, {args.threads} thread(s), best of {args.repeats} interleaved rounds")
    print(f"| stride | parameters | frames/s (batch 1) | vs stride 1 | frames/s (batch {args.batch}) | vs stride 1 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for s in models:
        fps = {b: b * args.frames / best[(s, b)] for b in inputs}
        base = {b: b * args.frames / best[(1, b)] for b in inputs}
        b = args.batch
        print(f"| {s} | {params[s]:,} | {fps[1]:,.0f} | {fps[1] / base[1]:.2f}x | {fps[b]:,.0f} | {fps[b] / base[b]:.2f}x |")


if __name__ == "__main__":
    main()
