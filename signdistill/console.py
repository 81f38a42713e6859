"""Rich rendering for the CLI (the library itself only logs)."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

# Tables are wide; when stdout is not a terminal (pipes, CI logs) do not squeeze them to 80 columns.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
out = Console(width=None if sys.stdout.isatty() else 160)


def progress_bar(label: str, fields: str) -> Progress:
    """The one progress-bar layout: label, bar, n/total, ``fields`` (a TextColumn format), elapsed, remaining."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn(fields), TimeElapsedColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console, transient=True)


class RichReporter:
    """Progress bar per epoch (loss, frames/s, ETA) and one summary line per epoch."""

    def __init__(self, enabled: bool = True, label: str = "train"):
        self.enabled = enabled
        self.label = label
        self.progress: Progress | None = None
        self.task: Any = None
        self.t0 = time.perf_counter()

    def run_start(self, info: dict[str, Any]) -> None:
        if not self.enabled:
            return
        resumed = f", resuming after epoch {info['resumed_at_epoch']}" if info.get("resumed_at_epoch") else ""
        console.print(
            f"[bold]{self.label}[/] {info['parameters']:,} parameters ({info['size_bytes'] / 1e6:.2f} MB fp32), "
            f"{info['epochs']} epochs, {info['threads']} torch thread{'s' if info['threads'] != 1 else ''} on {info['device']}{resumed}",
            highlight=False,
        )

    def run_end(self, info: dict[str, Any]) -> None:
        if not self.enabled:
            return
        note = (
            "  [yellow]dev WER was still falling at the last epoch: more epochs would likely help[/]" if info.get("still_improving") else ""
        )
        console.print(f"[bold]{self.label}[/] best dev WER {info['best_dev_wer']:.2f} at epoch {info['best_epoch']}{note}")

    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        if not self.enabled:
            return
        self.progress = progress_bar(
            f"[bold]{self.label}[/] epoch {epoch}/{epochs}", "loss {task.fields[loss]:.3f}  {task.fields[fps]:,.0f} frames/s"
        )
        self.progress.start()
        self.task = self.progress.add_task("epoch", total=batches, loss=float("nan"), fps=0.0)

    def step(self, metrics: dict[str, float]) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, loss=metrics["loss"], fps=metrics["frames_per_s"])

    def epoch_end(self, metrics: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        parts = [
            f"{k.split('/')[-1]} {v:.3f}"
            for k, v in metrics.items()
            if k.startswith("train/") and k.split("/")[-1] not in ("seconds", "skipped_batches", "frames_per_s")
        ]
        uses_t = any(k in metrics for k in ("train/kl", "train/aligned", "train/factorized", "train/shift", "train/sampled"))
        temp = f"  T {metrics['temperature']:.2f}" if "temperature" in metrics and uses_t else ""
        warn = "  [red]dev decodes to blank only[/]" if metrics.get("collapse_warning") else ""
        console.print(
            f"[bold]{self.label}[/] epoch {metrics['epoch']:>3}  {'  '.join(parts)}{temp}  "
            f"dev WER [cyan]{metrics['dev/wer']:.2f}[/]  {metrics['train/frames_per_s']:,.0f} frames/s{warn}"
        )


def wer_table(title: str, rows: list[tuple[str, dict[str, Any]]]) -> Table:
    table = Table(title=title)
    jiwer = any("wer_jiwer" in r for _, r in rows)  # computed by evaluate, not by a training run's final scoring
    for col in ("set", "WER %", *(["WER % (jiwer)"] if jiwer else []), "sub", "del", "ins", "ref glosses", "SER %", "blank-only %"):
        table.add_column(col, justify="right" if col != "set" else "left")
    for name, r in rows:
        table.add_row(
            name,
            f"{r['wer']:.2f}",
            *([f"{r['wer_jiwer']:.2f}" if "wer_jiwer" in r else ""] if jiwer else []),
            str(r["substitutions"]),
            str(r["deletions"]),
            str(r["insertions"]),
            str(r["reference_words"]),
            f"{r['sentence_error_rate']:.1f}",
            f"{100 * r.get('blank_rate', 0):.1f}",
        )
    return table


def run_event_printer(phases: dict[str, str], rename: dict[str, str] | None = None) -> Any:
    """An ``on_event(kind, name, info)`` callback for `compare`/`quickstart`: one line per run start and end.

    ``phases`` maps "train"/"beam" to the words shown; ``rename`` rewrites run names (recipe -> role).
    """

    def on_event(kind: str, name: str, info: dict[str, Any]) -> None:
        phase = phases["beam" if info.get("phase") == "beam" else "train"]
        for old, new in (rename or {}).items():
            name = name.replace(old, new)
        if kind == "start":
            console.print(f"  {phase}: {name} ...", highlight=False, markup=False)
            return
        how = "reused" if info.get("reused") else f"{info['seconds']:.0f} s"
        wers = f"dev WER {info['dev']['wer']:.2f}, test WER {info['test']['wer']:.2f}"
        console.print(f"  {phase}: {name} done: {wers} ({how})", highlight=False, markup=False)

    return on_event
