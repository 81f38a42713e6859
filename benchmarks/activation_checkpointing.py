"""Activation checkpointing: memory and step time with and without, for the plan's teacher.

python benchmarks/activation_checkpointing.py [--layers 5 --hidden 384 --batch 20 --frames 400 --repeats 2]

Each measurement runs in a fresh process with one torch thread (peak RSS is per process);
the two settings are interleaved and the best step time of ``--repeats`` is kept. Reported:
the bytes autograd keeps for the backward pass (distinct storages, from ``saved_tensors_hooks``), the
process's peak RSS over one training step (forward + backward), and the step time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(1)
from signdistill.losses import ctc_loss
from signdistill.models import build_model
a = json.loads(sys.argv[1])
torch.manual_seed(0)
model = build_model(a["input_dim"], a["vocab"], layers=a["layers"], hidden=a["hidden"], input_proj=a["hidden"]).train()
model.activation_checkpointing = a["checkpointing"]
x = torch.randn(a["batch"], a["frames"], a["input_dim"])
lengths = torch.full((a["batch"],), a["frames"])
targets = torch.randint(1, a["vocab"], (a["batch"] * 20,))
target_lengths = torch.full((a["batch"],), 20)
# Warm-up on a short batch: one-time costs (lazy init, allocator) stay out of the measurement.
w = model(x[:2, :20], torch.full((2,), 20))
ctc_loss(w.logits, torch.full((2,), 20), targets[:4], torch.full((2,), 2)).backward()
model.zero_grad()
saved = 0
seen = set()
def pack(t):  # count each storage once (ops often save the same tensor or views of it)
    global saved
    st = t.untyped_storage()
    if st.data_ptr() not in seen:
        seen.add(st.data_ptr())
        saved += st.nbytes()
    return t
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    start = time.perf_counter()
    out = model(x, lengths)
    loss = ctc_loss(out.logits, lengths, targets, target_lengths)
loss.backward()
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"saved_mb": saved / 2**20, "peak_rss_mb": peak / 1024, "rss_growth_mb": (peak - base_rss) / 1024, "seconds": seconds}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--frames", type=int, default=400)
    p.add_argument("--input-dim", type=int, default=36)
    p.add_argument("--vocab", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    results: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(args.repeats):
        for checkpointing in (False, True):  # interleaved
            a = {**vars(args), "checkpointing": checkpointing}
            out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(a)], env=env, capture_output=True, text=True, check=True)
            results[checkpointing].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"model {args.layers}x{args.hidden}, batch {args.batch}, T = {args.frames}, one thread, best of {args.repeats}")
    print(f"{'activation_checkpointing':>24} {'saved for backward MB':>22} {'peak RSS MB':>12} {'step s':>7}")
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in results.items()}
    for k in (False, True):
        r = best[k]
        peak = max(x["peak_rss_mb"] for x in results[k])
        print(f"{str(k).lower():>24} {r['saved_mb']:22.0f} {peak:12.0f} {r['seconds']:7.2f}")
    print(
        f"saved activations x{best[True]['saved_mb'] / best[False]['saved_mb']:.2f}, "
        f"step time x{best[True]['seconds'] / best[False]['seconds']:.2f} with checkpointing"
    )


if __name__ == "__main__":
    main()
