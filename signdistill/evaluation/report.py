"""Comparison reports: a table (Markdown + JSON) and, with matplotlib, PNG plots.

Plots: WER per model and decoder; training curves from each run's ``metrics.jsonl``;
and, for one utterance, every model's frame posteriors over time (blank and the glosses
of the reference), the picture that shows whether teacher and student CTC spikes align.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def is_report(path: str | Path) -> bool:
    """True for a folder written by ``signdistill report`` (its report.json has the report's keys)."""
    try:
        info = json.loads((Path(path) / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and {"manifest", "rows", "plots"} <= set(info)


@dataclass
class ReportRow:
    """One row of a report's table: a model under one decoder (``greedy`` or ``beam``), its WER breakdown."""

    model: str
    decoder: str
    parameters: int
    wer: float
    substitutions: int
    deletions: int
    insertions: int
    sentence_error_rate: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def markdown_table(rows: list[ReportRow]) -> str:
    """The report's Markdown table, one line per row."""
    head = "| model | decoder | params | WER % | sub | del | ins | SER % |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    body = "".join(
        f"| {r.model} | {r.decoder} | {r.parameters:,} | {r.wer:.2f} | {r.substitutions} | "
        f"{r.deletions} | {r.insertions} | {r.sentence_error_rate:.1f} |\n"
        for r in rows
    )
    return head + body


def _read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    f = run_dir / "metrics.jsonl"
    if not f.is_file():
        return []
    return [r for r in (json.loads(x) for x in f.read_text().splitlines() if x.strip()) if r.get("kind") == "epoch"]


PLOTS_SKIPPED = "no plots written: they need matplotlib, pip install 'signdistill[plots]'"


def plots_available() -> bool:
    """True when matplotlib can be imported (the ``plots`` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_all(
    rows: list[ReportRow], runs: dict[str, Path], posteriors: dict[str, np.ndarray], utterance: dict[str, Any], out: Path
) -> list[Path]:
    """Write the PNG plots; returns their paths ([] without matplotlib). ``posteriors``: per model, one
    utterance's log-probs ``(T, V)``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info(PLOTS_SKIPPED)  # pipelines.report returns it as plots_skipped; the CLI says it once
        return []
    written = []
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(rows)), 3.5))
    labels = [f"{r.model}\n{r.decoder}" for r in rows]
    ax.bar(labels, [r.wer for r in rows], color=["#4477aa" if r.decoder == "greedy" else "#ee6677" for r in rows])
    ax.set_ylabel("WER %")
    ax.set_title("WER per model and decoder")
    fig.tight_layout()
    fig.savefig(out / "wer.png", dpi=120)
    plt.close(fig)
    written.append(out / "wer.png")

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, run in runs.items():
        hist = _read_metrics(run)
        if hist:
            a1.plot([h["epoch"] for h in hist], [h["dev/wer"] for h in hist], label=name)
            a2.plot([h["epoch"] for h in hist], [h.get("train/total", float("nan")) for h in hist], label=name)
    a1.set_title("dev WER %")
    a2.set_title("training loss")
    a2.set_yscale("log")
    for a in (a1, a2):
        a.set_xlabel("epoch")
        a.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=120)
    plt.close(fig)
    written.append(out / "curves.png")

    if posteriors:
        fig, axes = plt.subplots(len(posteriors), 1, figsize=(10, 2.2 * len(posteriors)), sharex=True, squeeze=False)
        ref_ids = utterance["reference_ids"]
        for ax, (name, post) in zip(axes[:, 0], posteriors.items()):
            p = np.exp(post)  # (T, V) posteriors
            ax.plot(p[:, 0], color="0.6", lw=1, label="blank")
            for k in sorted(set(ref_ids)):
                ax.plot(p[:, k], lw=1.2, label=utterance["tokens"][k])
            ax.set_ylabel(name)
            ax.set_ylim(0, 1.05)
        axes[0, 0].set_title(f"frame posteriors, utterance {utterance['id']}: {' '.join(utterance['reference'])}")
        axes[0, 0].legend(ncol=8, fontsize=7, loc="upper right")
        axes[-1, 0].set_xlabel("frame")
        fig.tight_layout()
        fig.savefig(out / "posteriors.png", dpi=120)
        plt.close(fig)
        written.append(out / "posteriors.png")
    return written
