"""Per run of a `signdistill compare` folder: tuning point, first step with recognized glosses, WER.

python benchmarks/first_nonblank.py runs/bench_output_bias
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(folder: str) -> None:
    rows = []
    for f in sorted(Path(folder, "runs").rglob("compare_run.json")):
        r = json.loads(f.read_text())
        c = r["config"]
        rows.append(
            (
                r["seed"],
                c["model"].get("output_bias"),
                c["optim"]["warmup_steps"],
                r.get("first_nonblank_step"),
                r["dev"]["wer"],
                r["test"]["wer"],
            )
        )
    print(f"{'seed':>4} {'output_bias':>11} {'warm-up':>7} {'first step with glosses':>23} {'dev WER':>8} {'test WER':>8}")
    for seed, bias, warm, first, dev, test in sorted(rows, key=lambda x: (x[1], x[2], x[0])):
        print(f"{seed:>4} {bias:>11} {warm:>7} {('never' if first is None else first):>23} {dev:8.2f} {test:8.2f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/bench_output_bias")
