"""Padded vs packed vs exact-padded BiLSTM: throughput and exactness, side by side.

    python benchmarks/padded_lstm.py [--threads 1] [--layers 4] [--hidden 256]

All three run the same weights on the same variable-length batches. Prints frames/s,
the ratio to the plain padded BiLSTM, and the max |difference| of each design's output
from running every utterance alone.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from signdistill.models import ExactBiLSTMLayer, reverse_within_length


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--input", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--min-len", type=int, default=50)
    ap.add_argument("--max-len", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lstm = nn.LSTM(args.input, args.hidden, args.layers, bidirectional=True, batch_first=True).eval()
    exact = nn.ModuleList(ExactBiLSTMLayer.from_bidirectional(lstm, i) for i in range(args.layers)).eval()
    lengths = torch.randint(args.min_len, args.max_len + 1, (args.batch,))
    lengths[0] = args.max_len
    x = torch.randn(args.batch, args.max_len, args.input)
    frames = int(lengths.sum())

    def padded():
        return lstm(x)[0]

    def packed():
        p = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(lstm(p)[0], batch_first=True, total_length=args.max_len)[0]

    def ours():
        rev = reverse_within_length(lengths, args.max_len)
        h = x
        for layer in exact:
            h = layer(h, rev)
        return h

    with torch.no_grad():
        alone = [lstm(x[b : b + 1, : int(n)])[0][0] for b, n in enumerate(lengths)]
        rows = []
        for name, fn in (("padded nn.LSTM", padded), ("packed nn.LSTM", packed), ("exact padded (signdistill)", ours)):
            out = fn()
            diff = max(float((out[b, : int(n)] - alone[b]).abs().max()) for b, n in enumerate(lengths))
            fn()
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            rows.append((name, frames / sorted(times)[len(times) // 2], diff))
    base = rows[0][1]
    print(f"BiLSTM {args.layers}x{args.hidden}, batch {args.batch}, lengths {args.min_len}-{args.max_len}, {args.threads} thread(s)")
    print(f"{'design':<28} {'frames/s':>10} {'vs padded':>10} {'max |diff| vs alone':>20}")
    for name, fps, diff in rows:
        print(f"{name:<28} {fps:10,.0f} {fps / base:9.2f}x {diff:20.2e}")


if __name__ == "__main__":
    main()
