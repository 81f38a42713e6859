"""How good are a teacher's pseudo-labels, and what does a confidence threshold buy?

Transcribes a manifest that still has its glosses (e.g. `data synth --unlabeled N`'s
unlabeled_new.jsonl) with the teacher exactly as `distill` does for data.unlabeled (greedy,
clean features, the teacher's normalizer), and prints per threshold the share of utterances
kept and the WER of the kept transcripts against the true glosses.

    python benchmarks/pseudo_labels.py --teacher runs/compare_unlabeled/teacher/best \
        --manifest data/synth/unlabeled_new.jsonl --train data/synth/train.jsonl
"""

from __future__ import annotations

import argparse

import torch

from signdistill.checkpoint import load_checkpoint
from signdistill.data import SignDataset, read_manifest
from signdistill.data.unlabeled import read_unlabeled_manifest
from signdistill.evaluation.wer import word_error_rate
from signdistill.training.unlabeled import teacher_transcripts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--manifest", required=True, help="unlabeled manifest that still has its glosses (for scoring)")
    ap.add_argument("--train", required=True, help="the labelled training manifest (its ids must not repeat)")
    ap.add_argument("--thresholds", default="0,0.5,0.6,0.7,0.8,0.85,0.9,0.95")
    args = ap.parse_args()
    torch.set_num_threads(1)
    teacher = load_checkpoint(args.teacher)
    refs = {u.id: list(u.glosses) for u in read_manifest(args.manifest)}
    utts = read_unlabeled_manifest(args.manifest, labelled_ids={u.id for u in read_manifest(args.train)})
    data = SignDataset(utts, teacher.vocab, teacher.normalizer)
    found = teacher_transcripts([teacher.model.eval()], None, data, range(len(data)))
    print(f"{len(found)} utterances; teacher {args.teacher}")
    print("| min confidence | kept % | WER of kept % | WER of the rest % |")
    print("| --- | --- | --- | --- |")
    for th in (float(x) for x in args.thresholds.split(",")):
        kept = [i for i, (toks, c) in found.items() if toks and c >= th]
        rest = [i for i in found if i not in set(kept)]

        def wer(ix: list[int]) -> str:
            if not ix:
                return "-"
            r = [refs[data.utterances[i].id] for i in ix]
            h = [teacher.vocab.decode(found[i][0]) for i in ix]
            return f"{word_error_rate(r, h).wer:.2f}"

        print(f"| {th:.2f} | {100 * len(kept) / len(found):.1f} | {wer(kept)} | {wer(rest)} |")


if __name__ == "__main__":
    main()
