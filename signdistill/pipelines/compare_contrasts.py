"""``compare``'s contrasts: paired differences between two recipes other than the baseline.

A comparison answers "does this recipe beat ``ctc``?"; ``contrasts: [[a, b], ...]`` in its config also
answers "is ``a`` any different from ``b``?" (an int8 teacher against the fp32 one, ratio 4 against
ratio 1) with the same seeds, interval and verdict rules, from the runs already trained.
"""

from __future__ import annotations

from typing import Any

from signdistill.config import CompareConfig

Errors = dict[tuple[str, str, str], list[Any]]  # (recipe, split, decoder suffix) -> per-seed utterance errors


def fmt_interval(d: dict[str, Any]) -> str:
    """A paired difference as ``+1.23 [-0.45, +2.80]``."""
    return f"{d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]"


def contrasts(cfg: CompareConfig, errs: Errors, lengths: dict[str, Any], suffixes: list[str], untrained: set[str]) -> list[dict[str, Any]]:
    """One entry per ``cfg.contrasts`` pair: ``recipe``, ``reference`` and per decoder ``paired_dev``/``paired_test``
    (recipe - reference), ``verdict`` (on test; "not meaningful" when either recipe's models did not learn) and
    ``consistent`` (dev gives the same verdict, not within noise)."""
    import numpy as np

    from signdistill.evaluation.stats import paired_difference

    out = []
    for a, b in cfg.contrasts:
        entry: dict[str, Any] = {"recipe": a, "reference": b}
        for suffix in suffixes:
            for split in ("dev", "test"):
                d = paired_difference(
                    np.stack(errs[(a, split, suffix)]),
                    np.stack(errs[(b, split, suffix)]),
                    lengths[split],
                    replicates=cfg.bootstrap,
                    level=cfg.confidence,
                )
                entry[f"paired_{split}{suffix}"] = d.to_dict()
            test_v, dev_v = entry[f"paired_test{suffix}"]["verdict"], entry[f"paired_dev{suffix}"]["verdict"]
            entry[f"verdict{suffix}"] = "not meaningful" if {a, b} & untrained else test_v
            entry[f"consistent{suffix}"] = dev_v == test_v and test_v != "within noise"
        out.append(entry)
    return out


def contrast_rows(results: dict[str, Any], suffixes: list[tuple[str, str]]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the contrasts table (one row per pair and decoder)."""
    pct = int(round(100 * results["confidence"]))
    cols = ["recipe", "vs", "decoder", f"test diff ({pct}% CI)", f"dev diff ({pct}% CI)", "verdict", "dev agrees"]
    rows = []
    for c in results.get("contrasts") or []:
        for suffix, title in suffixes:
            if f"paired_test{suffix}" not in c:
                continue
            t, d = c[f"paired_test{suffix}"], c[f"paired_dev{suffix}"]
            rows.append(
                [
                    c["recipe"],
                    c["reference"],
                    title.split(",")[0],
                    fmt_interval(t),
                    fmt_interval(d),
                    c[f"verdict{suffix}"],
                    "yes" if c[f"consistent{suffix}"] else "no",
                ]
            )
    return cols, rows
