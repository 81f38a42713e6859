"""Baseline student vs distilled students over several seeds, on identical data.

Every seed trains its own teacher, baseline student (CTC only) and one distilled student
per recipe, with the same data, epochs and optimizer; only the loss differs. Prints the
mean and spread (sample std) of the test WERs.

    python benchmarks/distill_seeds.py --seeds 0 1 2 --jobs 2 --out /tmp/distill_seeds
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

RECIPES = {
    # The plan's recipe scaled to the small models (feature: teacher layer 2 -> student layer 1).
    "plan (T=4, keep blank, +feat)": {
        "loss": {"kl": 0.7, "ctc": 0.2, "feature": 0.1},
        "temperature": {"kind": "piecewise", "values": [4.0, 3.5, 3.0], "boundaries": [9, 21]},
        "feature_layers": [[2, 1]],
        "blank_mode": "keep",
    },
    "plan weights, drop blank": {"loss": {"kl": 0.7, "ctc": 0.2}, "temperature": 4.0, "blank_mode": "drop"},
    "recommended": None,  # filled from signdistill.pipelines.RECOMMENDED_DISTILL
}


def run_seed(seed: int, out: str, epochs: int, teacher_epochs: int, recipes: list[str]) -> dict[str, float]:
    import torch

    torch.set_num_threads(1)
    from signdistill import pipelines
    from signdistill.config import DistillRunConfig, load_config

    out_p = Path(out)
    data = out_p / "data"
    res: dict[str, float] = {}
    t_cfg = pipelines.run_config(out_p / f"teacher-{seed}", data, pipelines.QUICKSTART_TEACHER, teacher_epochs, seed=seed, threads=1, progress=False)
    _, s = pipelines.train(load_config(None, [], data=t_cfg), overwrite=True)
    res["teacher"] = s["test"]["wer"]
    b_cfg = pipelines.run_config(out_p / f"student-{seed}", data, pipelines.QUICKSTART_STUDENT, epochs, seed=seed, threads=1, progress=False)
    _, s = pipelines.train(load_config(None, [], data=b_cfg), overwrite=True)
    res["baseline student"] = s["test"]["wer"]
    for i, name in enumerate(recipes):
        recipe = RECIPES[name] or pipelines.RECOMMENDED_DISTILL
        d_cfg = pipelines.run_config(out_p / f"distill{i}-{seed}", data, pipelines.QUICKSTART_STUDENT, epochs, seed=seed, threads=1, progress=False)
        d_cfg["distill"] = {"teachers": [{"checkpoint": str(out_p / f"teacher-{seed}" / "best")}], **recipe}
        _, s = pipelines.distill(load_config(None, [], DistillRunConfig, data=d_cfg), overwrite=True)
        res[f"distilled: {name}"] = s["test"]["wer"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2, help="seeds trained in parallel (one thread each)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--teacher-epochs", type=int, default=30)
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES))
    ap.add_argument("--out", default="/tmp/signdistill-distill-seeds")
    args = ap.parse_args()
    from signdistill.data.synth import generate

    out = Path(args.out)
    if not (out / "data" / "train.jsonl").exists():
        generate(out / "data", seed=0)  # one dataset for every seed
    t0 = time.time()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_seed, args.seeds, [str(out)] * len(args.seeds), [args.epochs] * len(args.seeds),
                                [args.teacher_epochs] * len(args.seeds), [args.recipes] * len(args.seeds)))
    print(f"\nembedded dataset, test WER % over seeds {args.seeds} ({args.epochs} student epochs, {time.time() - t0:.0f} s)")
    print(f"{'model':<40} {'mean':>7} {'std':>6}   per seed")
    for key in results[0]:
        vals = [r[key] for r in results]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        print(f"{key:<40} {statistics.mean(vals):7.2f} {sd:6.2f}   {', '.join(f'{v:.2f}' for v in vals)}")
    (out / "results.json").write_text(json.dumps({"seeds": args.seeds, "results": results}, indent=2))


if __name__ == "__main__":
    main()
