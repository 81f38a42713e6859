"""STM/CTM export for NIST sclite (the scorer behind published PHOENIX numbers)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from signdistill.io import write_text_atomic

# The lines write_stm and write_ctm write (how `evaluate --overwrite` tells its own files from others).
STM_LINE = r"\S+ 1 \S+ 0\.000 \d+\.000( \S+)*"
CTM_LINE = r"\S+ 1 \d+\.000 1\.000 \S+"


def write_stm(
    path: str | os.PathLike[str], ids: Sequence[str], references: Sequence[Sequence[str]], signers: Sequence[str | None] | None = None
) -> None:
    """One STM line per utterance: ``id 1 speaker 0.0 1.0 GLOSS ...`` (sorted by id, as sclite wants)."""
    rows = []
    for k, (uid, ref) in enumerate(zip(ids, references)):
        spk = "_".join(((signers[k] if signers else None) or "unknown").split())  # STM fields hold no space
        rows.append((uid, f"{uid} 1 {spk} 0.000 {max(len(ref), 1):.3f} {' '.join(ref)}".rstrip()))
    write_text_atomic(path, "\n".join(r for _, r in sorted(rows)) + "\n")


def write_ctm(path: str | os.PathLike[str], ids: Sequence[str], hypotheses: Sequence[Sequence[str]]) -> None:
    """One CTM line per hypothesis gloss (``id 1 start dur GLOSS``); an empty output has no lines.

    (The PHOENIX scripts write an ``[EMPTY]`` word instead, which sclite then counts as one
    substitution plus deletions rather than deletions only; the error total is the same.)
    """
    lines = []
    for uid, hyp in sorted(zip(ids, hypotheses)):
        lines += [f"{uid} 1 {i:.3f} 1.000 {w}" for i, w in enumerate(hyp)]
    write_text_atomic(path, "\n".join(lines) + "\n")


def sclite_command() -> list[str] | None:
    """``sctk sclite`` (Debian's sctk) or a plain ``sclite`` on PATH, or None."""
    if shutil.which("sctk"):
        return ["sctk", "sclite"]
    if shutil.which("sclite"):
        return ["sclite"]
    return None


def run_sclite(stm: str | os.PathLike[str], ctm: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> dict[str, float]:
    """Score with sclite; return the counts of its raw summary (``corr, sub, del, ins, err, words``)."""
    cmd = sclite_command()
    if cmd is None:
        raise FileNotFoundError("sclite not found (Debian: apt install sctk)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [*cmd, "-h", str(ctm), "ctm", "-r", str(stm), "stm", "-f", "0", "-o", "rsum", "-O", str(out_dir), "-n", "result"],
        check=True,
        capture_output=True,
        text=True,
    )
    for line in (out_dir / "result.raw").read_text(encoding="utf-8", errors="replace").splitlines():
        cells_raw = [c.strip() for c in line.split("|")]
        if len(cells_raw) > 1 and cells_raw[1] in ("Sum", "Sum/Avg"):
            cells = [c.strip() for c in line.split("|") if c.strip()]
            nums = cells[1].split()
            stats = cells[2].split()
            return {
                "sentences": float(nums[0]),
                "words": float(nums[1]),
                "corr": float(stats[0]),
                "sub": float(stats[1]),
                "del": float(stats[2]),
                "ins": float(stats[3]),
                "err": float(stats[4]),
            }
    raise RuntimeError(f"no Sum line in {out_dir / 'result.raw'}")
