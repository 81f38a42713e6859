"""Step time of distillation vs a plain student step, measured side by side.

    python benchmarks/distill_step.py [--threads 1] [--steps 30]

Times forward + backward + optimizer step for: the student with CTC only; online
distillation (the teacher runs every step); distillation from a teacher cache (top-k).
Models are the quickstart's (teacher 2x128, student 1x48) unless --plan is given
(teacher 5x384, student 4x256). Weights are random: timing does not depend on them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--plan", action="store_true", help="use the plan's 5x384 teacher and 4x256 student")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from signdistill import pipelines
    from signdistill.data import BucketBatchSampler, Normalizer, SignDataset, Vocabulary, collate, read_manifest
    from signdistill.data.synth import generate
    from signdistill.losses import ConstantSchedule, DistillationLoss
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
    teacher = build_model(36, len(vocab), **t_kw).eval()
    write_teacher_cache([teacher], [1.0], ds, tmp / "cache", topk=16)
    batches = [collate([ds[i] for i in b]) for b in BucketBatchSampler(ds.lengths, 16, seed=0).batches()]
    loss = DistillationLoss(kl=0.5, ctc=0.5)
    objectives = {
        "student, CTC only": CTCObjective(),
        "distill, online teacher": DistillObjective(loss, ConstantSchedule(1.0), teachers=[teacher]),
        "distill, cached teacher": DistillObjective(loss, ConstantSchedule(1.0), cache=TeacherCache(tmp / "cache")),
    }
    times = {}
    for name, obj in objectives.items():
        torch.manual_seed(0)
        student = build_model(36, len(vocab), **s_kw)
        opt = torch.optim.AdamW(student.parameters(), lr=1e-3)
        obj.on_epoch_start(1)
        for phase in ("warm-up", "timed"):
            t0 = time.perf_counter()
            for i in range(args.steps if phase == "timed" else 3):
                out = obj(student, batches[i % len(batches)])
                out.total.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            times[name] = (time.perf_counter() - t0) / args.steps
    base = times["student, CTC only"]
    print(f"{'teacher 5x384 / student 4x256' if args.plan else 'teacher 2x128 / student 1x48'}, batch 16, {args.threads} thread(s)")
    for name, t in times.items():
        print(f"{name:<26} {1000 * t:8.1f} ms/step  {t / base:5.2f}x")


if __name__ == "__main__":
    main()
