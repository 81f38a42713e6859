"""Checkpoints of the plan's model sizes with random weights, for speed and size figures.

    python benchmarks/plan_checkpoints.py --out /tmp/plan [--data data/synth]

Writes ``OUT/student`` (4x256 BiLSTM, the plan's student) and ``OUT/teacher`` (5x384), each a
checkpoint folder with the embedded data's vocabulary and feature normalizer, so that
``signdistill benchmark --checkpoint OUT/student`` and ``signdistill export`` run on them.
Their weights are random: use them for speed, size and log-prob parity, never for WER.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, help="an embedded dataset folder (default: generate a small one)")
    args = ap.parse_args()
    from signdistill.checkpoint import save_checkpoint
    from signdistill.data import Normalizer, SignDataset, Vocabulary, read_manifest
    from signdistill.data.synth import generate
    from signdistill.models import build_model

    data = args.data
    if data is None:
        data = Path(tempfile.mkdtemp())
        generate(data, seed=0, size="small")
    utts = read_manifest(data / "train.jsonl")
    vocab = Vocabulary.build(u.glosses for u in utts)
    ds = SignDataset(utts, vocab)
    normalizer = Normalizer.fit(ds.raw)
    for name in ("student", "teacher"):
        torch.manual_seed(0)
        model = build_model(ds.raw[0].shape[1], len(vocab), preset=name)
        path = save_checkpoint(args.out / name, model, vocab, normalizer, meta={"note": "random weights (benchmarks/plan_checkpoints.py)"})
        print(f"{path}: {sum(p.numel() for p in model.parameters()):,} parameters")


if __name__ == "__main__":
    main()
