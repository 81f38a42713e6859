"""Step time of distillation vs a plain student step, measured side by side.

    python benchmarks/distill_step.py [--threads 1] [--rounds 7] [--steps 6] [--plan]

Times forward + backward + optimizer step of the same student on the same batches for:
the student with CTC only; online distillation with FitNets 1->1 + CTC (the default recipe until 0.2:
the teacher runs every step, under ``torch.inference_mode``); online frame KL; online frame KL
with the frozen teacher quantized to dynamic int8 (CPU); and frame KL from a teacher cache
(top-16). The variants are interleaved: each round times ``--steps`` steps of every variant in
turn, and the best round of each is kept, so a busy moment on a shared machine slows all of
them alike. Models are the quickstart's (teacher 2x80, student 1x48) unless ``--plan`` is
given (teacher 5x384, student 4x256). Weights are random: timing does not depend on them.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
import warnings
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds; the best round of each variant is kept")
    ap.add_argument("--steps", type=int, default=6, help="steps per variant per round")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--plan", action="store_true", help="use the plan's 5x384 teacher and 4x256 student")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from signdistill import pipelines
    from signdistill.data import BucketBatchSampler, Normalizer, SignDataset, Vocabulary, collate, read_manifest
    from signdistill.data.synth import generate
    from signdistill.export import quantize_int8
    from signdistill.losses import ConstantSchedule, DistillationLoss, FeatureProjector
    from signdistill.models import build_model
    from signdistill.training.distill import DistillObjective, TeacherCache, write_teacher_cache
    from signdistill.training.objectives import CTCObjective

    tmp = Path(tempfile.mkdtemp())
    generate(tmp, seed=0, size="small")
    utts = read_manifest(tmp / "train.jsonl")
    vocab = Vocabulary.build(u.glosses for u in utts)
    ds = SignDataset(utts, vocab)
    ds.set_normalizer(Normalizer.fit(ds.raw))
    t_kw = {"preset": "teacher"} if args.plan else pipelines.QUICKSTART_TEACHER
    s_kw = {"preset": "student"} if args.plan else pipelines.QUICKSTART_STUDENT
    torch.manual_seed(0)
    teacher = build_model(36, len(vocab), **t_kw).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        teacher_int8 = quantize_int8(copy.deepcopy(teacher))
    write_teacher_cache([teacher], [1.0], ds, tmp / "cache", topk=16)
    batches = [collate([ds[i] for i in b]) for b in BucketBatchSampler(ds.lengths, args.batch, seed=0).batches()]
    student_sizes = build_model(36, len(vocab), **s_kw).hidden_sizes
    fitnets = DistillationLoss(kl=0.0, ctc=0.5, feature=1.0, projector=FeatureProjector([(1, 1)], student_sizes, teacher.hidden_sizes))
    kl = DistillationLoss(kl=0.5, ctc=0.5)
    variants = {
        "student, CTC only": CTCObjective(),
        "online, FitNets": DistillObjective(fitnets, ConstantSchedule(1.0), teachers=[teacher]),
        "online, frame KL": DistillObjective(kl, ConstantSchedule(1.0), teachers=[teacher]),
        "online, frame KL, int8 teacher": DistillObjective(kl, ConstantSchedule(1.0), teachers=[teacher_int8]),
        "cached, frame KL (top-16)": DistillObjective(kl, ConstantSchedule(1.0), cache=TeacherCache(tmp / "cache")),
    }
    state = {}
    for name, obj in variants.items():
        torch.manual_seed(0)
        student = build_model(36, len(vocab), **s_kw)
        params = list(student.parameters()) + list(obj.parameters())  # FitNets projections train too
        state[name] = (obj, student, torch.optim.AdamW(params, lr=1e-3))
        obj.on_epoch_start(1)

    def steps(name: str, start: int, n: int) -> float:
        obj, student, opt = state[name]
        t0 = time.perf_counter()
        for i in range(start, start + n):
            out = obj(student, batches[i % len(batches)])
            out.total.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return (time.perf_counter() - t0) / n

    best = {name: float("inf") for name in variants}
    for name in variants:
        steps(name, 0, 2)  # warm-up
    for r in range(args.rounds):
        for name in variants:  # same batches for every variant in a round
            best[name] = min(best[name], steps(name, r * args.steps, args.steps))
    base = best["student, CTC only"]
    pair = "teacher 5x384 / student 4x256" if args.plan else "teacher 2x80 / student 1x48 (quickstart)"
    print(f"{pair}, batch {args.batch}, {args.threads} thread(s), {args.rounds} interleaved rounds of {args.steps} steps, best round")
    for name, t in best.items():
        print(f"{name:<32} {1000 * t:8.1f} ms/step  {t / base:5.2f}x")


if __name__ == "__main__":
    main()
