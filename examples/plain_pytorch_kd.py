"""signdistill.losses inside a plain PyTorch training loop that knows nothing else of signdistill.

    python examples/plain_pytorch_kd.py [--steps 200]

A toy CTC task: sequences of random "glosses", each shown as a noisy one-hot burst over a
few frames. A teacher GRU is trained with CTC; a smaller student GRU is then trained with
the distillation loss (KL at T=2 with the blank column dropped + CTC). Only torch and
signdistill.losses are used.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from signdistill.losses import DistillationLoss, ctc_loss

V, D = 8, 16  # classes (0 = blank) and feature size


def make_batch(g: torch.Generator, batch: int = 16):
    lengths, targets, feats = [], [], []
    for _ in range(batch):
        n = int(torch.randint(2, 5, (1,), generator=g))
        labels = torch.randint(1, V, (n,), generator=g)
        frames = []
        for lab in labels:
            for _ in range(int(torch.randint(2, 4, (1,), generator=g))):
                x = torch.randn(D, generator=g) * 0.5
                x[lab] += 2.0
                frames.append(x)
            frames.append(torch.randn(D, generator=g) * 0.5)  # a pause
        feats.append(torch.stack(frames))
        lengths.append(len(frames))
        targets.append(labels)
    x = nn.utils.rnn.pad_sequence(feats, batch_first=True)
    return x, torch.tensor(lengths), torch.cat(targets), torch.tensor([len(t) for t in targets])


class Tagger(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.rnn = nn.GRU(D, hidden, batch_first=True)
        self.out = nn.Linear(hidden, V)

    def forward(self, x):
        return self.out(self.rnn(x)[0])  # (B, T, V)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    teacher, student = Tagger(64), Tagger(12)
    opt = torch.optim.Adam(teacher.parameters(), lr=3e-3)
    for _ in range(args.steps):
        x, lengths, targets, target_lengths = make_batch(g)
        loss = ctc_loss(teacher(x), lengths, targets, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
    teacher.eval()
    kd = DistillationLoss(kl=0.5, ctc=0.5, blank_mode="drop")
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    for step in range(args.steps):
        x, lengths, targets, target_lengths = make_batch(g)
        with torch.no_grad():
            t_logits = teacher(x)
        out = kd(student(x), t_logits, lengths, targets, target_lengths, temperature=2.0)
        opt.zero_grad()
        out.total.backward()
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  " + "  ".join(f"{k} {v:.3f}" for k, v in out.parts.items()))


if __name__ == "__main__":
    main()
