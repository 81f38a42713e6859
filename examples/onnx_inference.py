"""Run an ONNX export with onnxruntime and numpy only (no PyTorch, no signdistill).

    signdistill export --checkpoint runs/distill_small/best --format onnx --out exported/onnx
    python examples/onnx_inference.py exported/onnx data/synth/features/test-s17-0000.npy [more.npy ...]

Prints the greedy gloss transcript of each feature file ([T, D] float32 .npy).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort


def load(export_dir: Path) -> tuple[ort.InferenceSession, dict]:
    info = json.loads((export_dir / "model.json").read_text(encoding="utf-8"))
    session = ort.InferenceSession(str(export_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    return session, info


def transcribe(session: ort.InferenceSession, info: dict, features: list[np.ndarray]) -> list[list[str]]:
    mean = np.asarray(info["normalizer"]["mean"], np.float32)
    std = np.asarray(info["normalizer"]["std"], np.float32)
    tokens = info["vocabulary"]
    lengths = np.array([f.shape[0] for f in features], np.int64)
    batch = np.zeros((len(features), int(lengths.max()), mean.shape[0]), np.float32)
    for b, f in enumerate(features):
        batch[b, : f.shape[0]] = (f - mean) / std  # the same normalization as training
    log_probs = session.run(None, {"features": batch, "lengths": lengths})[0]  # (B, T, V)
    out = []
    for b, n in enumerate(lengths):
        best = log_probs[b, :n].argmax(-1)
        glosses, prev = [], -1
        for k in best:  # greedy CTC: merge repeats, drop blanks (index 0)
            if k != prev and k != 0:
                glosses.append(tokens[k])
            prev = k
        out.append(glosses)
    return out


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    session, info = load(Path(sys.argv[1]))
    files = [Path(p) for p in sys.argv[2:]]
    for path, glosses in zip(files, transcribe(session, info, [np.load(p).astype(np.float32) for p in files])):
        print(f"{path.stem}\t{' '.join(glosses)}")


if __name__ == "__main__":
    main()
