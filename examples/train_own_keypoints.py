"""Train on your own keypoints: .npy arrays -> a manifest -> a model, from Python.

    python examples/train_own_keypoints.py --out /tmp/own [--epochs 3]

Writes a few utterances of random "keypoints" ([T, D] float32 .npy files) with gloss
labels, the JSONL manifests, validates them, and trains a small CTC BiLSTM with the same
Trainer the CLI uses. Replace `make_fake_keypoints` with your own extraction.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from signdistill import pipelines
from signdistill.config import load_config
from signdistill.data import Utterance, write_manifest
from signdistill.data.check import check_manifest

GLOSSES = ["HELLO", "THANKS", "YES", "NO", "PLEASE"]


def make_fake_keypoints(glosses: list[str], rng: np.random.Generator, dim: int = 42) -> np.ndarray:
    """Stand-in for your pose estimator: one noisy pattern per gloss, 6-10 frames each."""
    frames = []
    for g in glosses:
        pattern = np.sin(np.arange(dim) * (GLOSSES.index(g) + 1) / 3.0)
        frames += [pattern + rng.normal(0, 0.3, dim) for _ in range(int(rng.integers(6, 11)))]
    return np.asarray(frames, dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    (args.out / "keypoints").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 40), ("dev", 10)):
        utts = []
        for i in range(n):
            glosses = list(rng.choice(GLOSSES, size=int(rng.integers(1, 4))))
            path = args.out / "keypoints" / f"{split}-{i:03d}.npy"
            np.save(path, make_fake_keypoints(glosses, rng))
            utts.append(Utterance(id=f"{split}-{i:03d}", features=path, glosses=tuple(glosses), signer=f"s{i % 3}"))
        write_manifest(args.out / f"{split}.jsonl", utts)
        report = check_manifest(args.out / f"{split}.jsonl")
        print(split, report.stats["utterances"], "utterances,", "ok" if report.ok else report.problems)
    cfg = load_config(
        None,
        [f"train.epochs={args.epochs}"],
        data={
            "run_dir": str(args.out / "run"),
            "data": {"train": str(args.out / "train.jsonl"), "dev": str(args.out / "dev.jsonl"), "batch_size": 8},
            "model": {"layers": 1, "hidden": 32, "input_proj": 32},
            "optim": {"lr": 3e-3, "warmup_steps": 5},
            "train": {"epochs": args.epochs, "progress": False},
        },
    )
    result, scores = pipelines.train(cfg, overwrite=True)
    print(f"best dev WER {result.best_dev_wer:.1f} at epoch {result.best_epoch}; checkpoint in {args.out / 'run' / 'best'}")


if __name__ == "__main__":
    main()
