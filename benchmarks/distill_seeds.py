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
    "plan weights, T=4, drop blank": {"loss": {"kl": 0.7, "ctc": 0.2}, "temperature": 4.0, "blank_mode": "drop"},
    "kl .5 + ctc .5, T=1, keep blank": {"loss": {"kl": 0.5, "ctc": 0.5}, "temperature": 1.0, "blank_mode": "keep"},
    "sequence-level KD (ctc .5 + seq .5)": {"loss": {"kl": 0.0, "ctc": 0.5, "sequence": 0.5}, "temperature": 1.0, "blank_mode": "keep"},
    "T=2, drop blank + 5 epochs CTC warm-up": {
        "loss": {"kl": 0.5, "ctc": 0.5},
        "temperature": 2.0,
        "blank_mode": "drop",
        "ctc_warmup_epochs": 5,
    },
    "T=2, drop blank + sequence KD (kl .4, ctc .3, seq .3)": {
        "loss": {"kl": 0.4, "ctc": 0.3, "sequence": 0.3},
        "temperature": 2.0,
        "blank_mode": "drop",
    },
    "token-aligned KD (aligned .5 + ctc .5, T=2)": {
        "loss": {"kl": 0.0, "ctc": 0.5, "aligned": 0.5},
        "temperature": 2.0,
        "blank_mode": "keep",
    },
    "token-aligned KD + sequence KD (aligned .4, ctc .3, seq .3)": {
        "loss": {"kl": 0.0, "ctc": 0.3, "aligned": 0.4, "sequence": 0.3},
        "temperature": 2.0,
        "blank_mode": "keep",
    },
    "default, then CTC only after epoch 20": {
        "loss": {"kl": 0.5, "ctc": 0.5},
        "temperature": 2.0,
        "blank_mode": "drop",
        "kd_last_epoch": 20,
    },
    "light frame KD: kl .2 + ctc .8, T=2, drop blank": {"loss": {"kl": 0.2, "ctc": 0.8}, "temperature": 2.0, "blank_mode": "drop"},
    "FitNets only (teacher layer 1 -> student 1), ctc .5 + feature .5": {
        "loss": {"kl": 0.0, "ctc": 0.5, "feature": 0.5},
        "feature_layers": [[1, 1]],
    },
    "FitNets only (teacher layer 2 -> student 1), ctc .5 + feature .5": {
        "loss": {"kl": 0.0, "ctc": 0.5, "feature": 0.5},
        "feature_layers": [[2, 1]],
    },
    "FitNets L1 + light KL (ctc .4, feature .4, kl .2 at T=2 drop)": {
        "loss": {"kl": 0.2, "ctc": 0.4, "feature": 0.4},
        "feature_layers": [[1, 1]],
        "temperature": 2.0,
        "blank_mode": "drop",
    },
    "frame KL: kl .5 + ctc .5, T=2, drop blank": {"loss": {"kl": 0.5, "ctc": 0.5}, "temperature": 2.0, "blank_mode": "drop"},
    "recommended (default): FitNets L1 -> L1, ctc .5 + feature 1.0": None,  # pipelines.RECOMMENDED_DISTILL  # pipelines.RECOMMENDED_DISTILL
}


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.split(":")[0].lower()).strip("-")[:40]


def run_seed(
    seed: int, out: str, epochs: int, teacher_epochs: int, recipes: list[str], alpha: float | None, tune: bool
) -> dict[str, dict[str, float]]:
    """Train (or reuse, when the run folder already holds the same finished run) and score one seed."""
    import torch

    torch.set_num_threads(1)
    from signdistill import pipelines
    from signdistill.config import DistillRunConfig, load_config

    out_p = Path(out)
    data = out_p / "data"
    decoder = None
    if alpha is not None:
        from signdistill.decoding.beam import DecoderConfig

        decoder = DecoderConfig(beam_width=10, alpha=alpha, beta=0.0, lm=str(out_p / "lm.arpa"))
    res: dict[str, dict[str, float]] = {}

    def score(name: str, run: Path) -> None:
        e = pipelines.evaluate(run / "best", data / "test.jsonl", decoder=decoder, compare_greedy=True, device="cpu")
        res[name] = {k: e[k]["wer"] for k in ("greedy", "beam") if k in e}
        if decoder is not None and tune:
            # Each model gets its own alpha/beta, tuned on dev (the fair comparison: an LM
            # weight and insertion bonus that suit one model's posteriors need not suit another's).
            t = pipelines.tune_decoder(
                run / "best",
                data / "dev.jsonl",
                decoder.lm,
                run / "decoder.json",
                alphas=[0.0, 0.25, 0.5, 0.75, 1.0],
                betas=[0.0, 1.0, 2.0, 3.0],
                beam_width=10,
                device="cpu",
            )
            from signdistill.decoding.beam import DecoderConfig

            tuned = DecoderConfig(beam_width=10, alpha=t["best"]["alpha"], beta=t["best"]["beta"], lm=decoder.lm)
            res[name]["tuned"] = pipelines.evaluate(run / "best", data / "test.jsonl", decoder=tuned, device="cpu")["wer"]

    t_cfg = pipelines.run_config(
        out_p / f"teacher-{seed}", data, pipelines.QUICKSTART_TEACHER, teacher_epochs, seed=seed, threads=1, progress=False
    )
    pipelines.train(load_config(None, [], data=t_cfg))
    score("teacher", out_p / f"teacher-{seed}")
    b_cfg = pipelines.run_config(
        out_p / f"student-{seed}", data, pipelines.QUICKSTART_STUDENT, epochs, seed=seed, threads=1, progress=False
    )
    pipelines.train(load_config(None, [], data=b_cfg))
    score("baseline student", out_p / f"student-{seed}")
    for name in recipes:
        # A recipe says what it uses; no feature matching unless it names layers.
        recipe = {"feature_layers": [], **RECIPES[name]} if RECIPES[name] else pipelines.RECOMMENDED_DISTILL
        run = out_p / f"{slug(name)}-{seed}"
        d_cfg = pipelines.run_config(run, data, pipelines.QUICKSTART_STUDENT, epochs, seed=seed, threads=1, progress=False)
        d_cfg["distill"] = {"teachers": [{"checkpoint": str(out_p / f"teacher-{seed}" / "best")}], **recipe}
        pipelines.distill(load_config(None, [], DistillRunConfig, data=d_cfg))
        score(f"distilled: {name}", run)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2, help="seeds trained in parallel (one thread each)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--teacher-epochs", type=int, default=30)
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), help=f"any of {list(RECIPES)}")
    ap.add_argument("--out", default="/tmp/signdistill-distill-seeds", help="runs here are reused when re-run with the same settings")
    ap.add_argument("--alpha", type=float, default=0.5, help="LM weight for the beam-search column (needs the lm extra; -1: greedy only)")
    ap.add_argument("--tune", action="store_true", help="also tune alpha/beta per model on dev and score test with them")
    args = ap.parse_args()
    import importlib.util

    from signdistill import pipelines
    from signdistill.data.synth import generate

    out = Path(args.out)
    if not (out / "data" / "train.jsonl").exists():
        generate(out / "data", seed=0)  # one dataset for every seed
    alpha = args.alpha if args.alpha >= 0 and importlib.util.find_spec("pyctcdecode") else None
    if alpha is not None:
        pipelines.build_lm(out / "data" / "train.jsonl", out / "lm.arpa", order=3)
    t0 = time.time()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(
            pool.map(
                run_seed,
                args.seeds,
                [str(out)] * len(args.seeds),
                [args.epochs] * len(args.seeds),
                [args.teacher_epochs] * len(args.seeds),
                [args.recipes] * len(args.seeds),
                [alpha] * len(args.seeds),
                [args.tune] * len(args.seeds),
            )
        )
    print(f"\nembedded dataset, test WER % over seeds {args.seeds} ({args.epochs} student epochs, {time.time() - t0:.0f} s)")
    decoders = ["greedy"] + (["beam"] if alpha is not None else []) + (["tuned"] if alpha is not None and args.tune else [])
    if alpha is not None:
        print(f"beam: width 10, 3-gram LM from the training transcripts, alpha {alpha}, beta 0")
        if args.tune:
            print("tuned: the same beam with alpha in {0..1} and beta in {0..3} chosen per model on dev")
    print(f"{'model':<62} {'decoder':<7} {'mean':>7} {'std':>6}   per seed")
    for key in results[0]:
        for dec in decoders:
            vals = [r[key][dec] for r in results]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            print(f"{key:<62} {dec:<7} {statistics.mean(vals):7.2f} {sd:6.2f}   {', '.join(f'{v:.2f}' for v in vals)}")
    # The seeds share a teacher per seed, so the paired difference is the fairer test.
    print("\npaired difference, distilled - baseline student (negative = distillation helped)")
    for key in results[0]:
        if not key.startswith("distilled"):
            continue
        for dec in decoders:
            diffs = [r[key][dec] - r["baseline student"][dec] for r in results]
            sd = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
            verdict = "helps" if statistics.mean(diffs) + sd < 0 else ("hurts" if statistics.mean(diffs) - sd > 0 else "within spread")
            print(f"{key:<62} {dec:<7} {statistics.mean(diffs):+7.2f} {sd:6.2f}   {verdict}")
    (out / "results.json").write_text(json.dumps({"seeds": args.seeds, "results": results}, indent=2))


if __name__ == "__main__":
    main()
