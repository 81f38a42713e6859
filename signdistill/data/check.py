"""``signdistill data check``: validate a dataset and describe it."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from signdistill.data.manifest import load_features, min_ctc_frames, read_manifest
from signdistill.errors import DataError


@dataclass
class CheckReport:
    manifest: Path
    utterances: int = 0
    problems: list[str] = field(default_factory=list)
    stats: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        """What ``data check --json`` writes."""
        return {"manifest": str(self.manifest), "ok": self.ok, "problems": self.problems, "stats": self.stats}


def check_manifest(path: str | os.PathLike[str], *, fps: float = 25.0) -> CheckReport:
    """Check every utterance of a manifest; collect all problems instead of stopping at the first.

    Problems: missing or unreadable feature files, non-2-D arrays, NaN/inf, a feature
    dimension that differs from the first utterance's, utterances too short for CTC.
    (A manifest line that is not valid JSON, lacks a field, has an empty gloss or a
    duplicate id stops the check at once with a :class:`DataError`.)
    """
    path = Path(path)
    utts = read_manifest(path)
    report = CheckReport(manifest=path, utterances=len(utts))
    dims: Counter[int] = Counter()
    lengths: list[int] = []
    expect: int | None = None
    for u in utts:
        try:
            arr = load_features(u.features, expect_dim=expect, context=f"utterance {u.id!r}")
        except DataError as exc:
            report.problems.append(str(exc))
            continue
        expect = expect or arr.shape[1]
        dims[arr.shape[1]] += 1
        lengths.append(arr.shape[0])
        need = min_ctc_frames(u.glosses)
        if arr.shape[0] < need:
            report.problems.append(f"Utterance {u.id!r}: {arr.shape[0]} frames for {len(u.glosses)} glosses; CTC needs at least {need}.")
    glosses = Counter(g for u in utts for g in u.glosses)
    lens = np.array(lengths) if lengths else np.zeros(1)
    report.stats = {
        "utterances": len(utts),
        "signers": len({u.signer for u in utts if u.signer is not None}),
        "gloss_vocabulary": len(glosses),
        "gloss_tokens": sum(glosses.values()),
        "feature_dim": dims.most_common(1)[0][0] if dims else 0,
        "frames_total": int(lens.sum()),
        "frames_min": int(lens.min()),
        "frames_mean": round(float(lens.mean()), 1),
        "frames_max": int(lens.max()),
        f"hours_at_{fps:g}fps": round(float(lens.sum()) / fps / 3600, 3),
        "glosses_per_utterance": round(sum(glosses.values()) / max(len(utts), 1), 2),
    }
    return report
