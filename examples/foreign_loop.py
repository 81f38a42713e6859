"""Distill a teacher that runs at a quarter of the frame rate, in a training loop of your own.

    python examples/foreign_loop.py [--steps 300]

Your teacher is a video network from another code base: a CNN front end that pools time by 4
(two kernel-5 convolution + max-pool-2 blocks, as VAC, SMKD or CorrNet do) and a recurrent
head. Your student runs at the input's frame rate. Nothing here uses signdistill's Trainer,
config or CLI: only torch and ``signdistill.losses``. The one step that differs from
same-rate distillation is ``resample_log_probs``: it brings the teacher's posteriors to the
student's frames (area averaging in probability space), after which every frame-level term
works as usual.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from signdistill.losses import ctc_loss, factorized_kd_loss
from signdistill.losses.rates import resample_log_probs

V, D = 8, 16  # classes (0 = blank) and feature size


def make_batch(g: torch.Generator, batch: int = 16):
    """Toy sign sequences: each gloss a noisy burst of 5-8 frames, a short pause after it."""
    lengths, targets, feats = [], [], []
    for _ in range(batch):
        labels = torch.randint(1, V, (int(torch.randint(2, 5, (1,), generator=g)),), generator=g)
        frames = []
        for lab in labels:
            for _ in range(int(torch.randint(5, 9, (1,), generator=g))):
                x = torch.randn(D, generator=g) * 0.5
                x[lab] += 2.0
                frames.append(x)
            frames += [torch.randn(D, generator=g) * 0.5 for _ in range(2)]
        feats.append(torch.stack(frames))
        lengths.append(len(frames))
        targets.append(labels)
    x = nn.utils.rnn.pad_sequence(feats, batch_first=True)
    return x, torch.tensor(lengths), torch.cat(targets), torch.tensor([len(t) for t in targets])


class PooledTeacher(nn.Module):
    """Conv k5 + ReLU + MaxPool 2, twice (stride 4), then a GRU: ``(B, T, D) -> (B, ceil(T/4), V)``."""

    def __init__(self, hidden: int = 64):
        super().__init__()
        self.front = nn.Sequential(
            nn.Conv1d(D, hidden, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True),
            nn.Conv1d(hidden, hidden, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True),
        )  # fmt: skip
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, V)

    def forward(self, x, lengths):
        h = self.front(x.transpose(1, 2)).transpose(1, 2)
        return self.out(self.rnn(h)[0]), (lengths + 3) // 4  # logits, output lengths (ceil(T / 4))


class Student(nn.Module):
    def __init__(self, hidden: int = 16):
        super().__init__()
        self.rnn = nn.GRU(D, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, V)

    def forward(self, x):
        return self.out(self.rnn(x)[0])  # (B, T, V): the input's frame rate


def greedy_errors(logits: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor) -> float:
    """Gloss error rate (%) of greedy CTC decoding: collapse repeats, drop blanks, edit distance to the targets."""
    errors, refs = 0, 0
    for b, ref in enumerate(targets.split(target_lengths.tolist())):
        ids = logits[b, : int(lengths[b])].argmax(-1).tolist()
        hyp = [c for i, c in enumerate(ids) if c != 0 and (i == 0 or c != ids[i - 1])]
        d = list(range(len(hyp) + 1))
        for r in ref.tolist():
            prev, d[0] = d[0], d[0] + 1
            for j, h in enumerate(hyp, 1):
                prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
        errors, refs = errors + d[-1], refs + len(ref)
    return 100.0 * errors / refs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    teacher, student = PooledTeacher(), Student()
    opt = torch.optim.Adam(teacher.parameters(), lr=3e-3)
    for _ in range(args.steps):  # your teacher, trained in your code base
        x, lengths, targets, target_lengths = make_batch(g)
        logits, t_lengths = teacher(x, lengths)
        loss = ctc_loss(logits, t_lengths, targets, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
    teacher.eval()
    opt = torch.optim.Adam(student.parameters(), lr=1e-2)
    for step in range(args.steps):
        x, lengths, targets, target_lengths = make_batch(g)
        with torch.no_grad():
            t_logits, t_lengths = teacher(x, lengths)
            t_lp = resample_log_probs(torch.log_softmax(t_logits, -1), t_lengths, lengths, x.shape[1])  # (B, T, V)
        s_logits = student(x)
        kd = factorized_kd_loss(s_logits, t_lp, lengths)  # log-probs are valid logits
        ctc = ctc_loss(s_logits, lengths, targets, target_lengths)
        loss = 0.5 * ctc + 0.5 * kd
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  ctc {ctc.item():.3f}  kd {kd.item():.3f}")
    x, lengths, targets, target_lengths = make_batch(torch.Generator().manual_seed(1), batch=64)
    with torch.no_grad():
        t_logits, t_lengths = teacher(x, lengths)
        print(f"greedy gloss error rate: teacher {greedy_errors(t_logits, t_lengths, targets, target_lengths):.1f} %  "
              f"student {greedy_errors(student(x), lengths, targets, target_lengths):.1f} %")  # fmt: skip


if __name__ == "__main__":
    main()
