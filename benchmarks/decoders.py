"""Beam-search backends side by side: speed (utterances/s) and agreement on the same inputs.

    python benchmarks/decoders.py [--vocab 1232] [--frames 200] [--utts 40] [--beams 10 50] [--threads 1]

Synthetic CTC posteriors over a gloss vocabulary: utterances drawn from a random Markov
chain over glosses, one spike per gloss (its probability spread over a few confusable
glosses), blank between spikes; a 3-gram LM built from 2,000 other sentences of the same
chain. Both backends get the same log-probabilities, beam width, LM and alpha.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def make_data(vocab: int, frames: int, utts: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    glosses = [f"G{i:04d}" for i in range(vocab)]
    succ = rng.integers(0, vocab, size=(vocab, 4))  # each gloss has 4 likely successors

    def sentence(n: int) -> list[int]:
        s = [int(rng.integers(vocab))]
        for _ in range(n - 1):
            s.append(int(succ[s[-1], rng.integers(4)]) if rng.random() < 0.85 else int(rng.integers(vocab)))
        return s

    corpus = [[glosses[i] for i in sentence(int(rng.integers(4, 12)))] for _ in range(2000)]
    tokens = ["<blank>", "<unk>", *glosses]
    refs, emissions = [], []
    for _ in range(utts):
        ids = sentence(max(2, frames // 20))
        lp = np.full((frames, len(tokens)), -12.0, dtype=np.float32)
        lp[:, 0] = -0.01
        spikes = np.sort(rng.choice(np.arange(2, frames - 2), size=len(ids), replace=False))
        for t, g in zip(spikes, ids):
            # The right gloss is the most likely one 70% of the time; otherwise a confusable wins.
            conf = rng.integers(0, vocab, size=3)
            p_true = rng.uniform(0.35, 0.8) if rng.random() < 0.7 else rng.uniform(0.15, 0.3)
            rest = 0.97 - p_true
            lp[t, :] = -12.0
            lp[t, 0] = np.log(0.03)
            lp[t, 2 + g] = np.log(p_true)
            shares = rng.dirichlet([1.0, 1.0, 1.0]) * rest
            if p_true < 0.33:
                shares[0] = max(shares[0], p_true + 0.05)
                shares *= rest / shares.sum()
            for c, sh in zip(conf, shares):
                lp[t, 2 + c] = np.log(sh + 1e-6)
        lp -= np.log(np.exp(lp).sum(1, keepdims=True))
        refs.append([glosses[i] for i in ids])
        emissions.append(lp)
    return tokens, corpus, refs, emissions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=1232)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--utts", type=int, default=40)
    ap.add_argument("--beams", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--beta", type=float, default=0.0, help="pyctcdecode only; flashlight needs 0")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from signdistill.decoding import greedy_decode
    from signdistill.decoding.beam import BeamSearchDecoder, DecoderConfig
    from signdistill.decoding.lm import build_arpa
    from signdistill.evaluation import word_error_rate

    tokens, corpus, refs, emissions = make_data(args.vocab, args.frames, args.utts)
    lm = Path(tempfile.mkdtemp()) / "lm.arpa"
    build_arpa(corpus, lm, order=3)
    t0 = time.perf_counter()
    greedy = []
    for lp in emissions:
        ids = greedy_decode(torch.from_numpy(lp)[None], torch.tensor([lp.shape[0]]))[0]
        greedy.append([tokens[i] for i in ids])
    g_speed = len(emissions) / (time.perf_counter() - t0)
    print(
        f"{args.utts} utterances, T={args.frames}, {args.vocab} glosses, 3-gram LM, "
        f"alpha {args.alpha}, beta {args.beta}, {args.threads} thread(s)"
    )
    print(f"{'decoder':<28} {'utt/s':>8} {'WER %':>7}")
    print(f"{'greedy':<28} {g_speed:8.0f} {word_error_rate(refs, greedy).wer:7.2f}")
    for beam in args.beams:
        outs = {}
        for backend in ("pyctcdecode", "flashlight"):
            try:
                dec = BeamSearchDecoder(
                    tokens, DecoderConfig(beam_width=beam, alpha=args.alpha, beta=args.beta, lm=str(lm), backend=backend)
                )
            except Exception as exc:  # a backend that is not installed
                print(f"{backend} beam {beam}: skipped ({exc})")
                continue
            dec.decode(emissions[:2])  # warm-up
            t0 = time.perf_counter()
            hyps = dec.decode(emissions)
            speed = len(emissions) / (time.perf_counter() - t0)
            outs[backend] = hyps
            print(f"{backend + ' beam ' + str(beam):<28} {speed:8.1f} {word_error_rate(refs, hyps).wer:7.2f}")
        if len(outs) == 2:
            same = sum(a == b for a, b in zip(outs["pyctcdecode"], outs["flashlight"]))
            print(f"{'  identical transcripts':<28} {same}/{len(emissions)}")


if __name__ == "__main__":
    main()
