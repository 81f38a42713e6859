"""`signdistill compare`'s figures, written next to ``results.md`` (matplotlib, the ``plots`` extra).

Two figures, each as PNG (embedded in ``results.md``) and SVG (the same, as vectors):

- ``wer_forest``: per recipe, the test WER of every seed (dots) and its mean, and the paired
  difference to ``ctc`` with its interval (a forest plot, a line at 0); greedy and, when the
  comparison scored it, the tuned LM beam side by side.
- ``dev_wer_per_epoch``: dev WER after every epoch of every run (from its ``metrics.jsonl``), one
  line per run coloured by recipe, the best epoch marked; a run whose best epoch is its last was
  still improving.

Without matplotlib nothing is drawn and :data:`FIGURES_SKIPPED` says why; the comparison itself
is unaffected. Files are written atomically and byte-identically on a rerun of the same results.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from signdistill.io import atomic_path
from signdistill.recipes import BASELINE

log = logging.getLogger(__name__)

FIGURES_SKIPPED = "no figures written: they need matplotlib, pip install 'signdistill[plots]'"
FOREST = "wer_forest"
CURVES = "dev_wer_per_epoch"
FORMATS = ("png", "svg")
FIGURE_FILES = tuple(f"{stem}.{fmt}" for stem in (FOREST, CURVES) for fmt in FORMATS)
TEACHER = "teacher"
_VERDICT_COLOURS = {"helps": "tab:green", "hurts": "tab:red"}
_RC: Any = {"svg.hashsalt": "signdistill", "svg.fonttype": "path"}  # SVG ids from a fixed salt: reruns give the same bytes


def figures_available() -> bool:
    """True when matplotlib can be imported (the ``plots`` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_figures(out_dir: Path, results: dict[str, Any]) -> list[str]:
    """Draw the comparison's figures into ``out_dir``; return their file names (``[]`` without matplotlib).

    Args:
        out_dir: the comparison's folder (``OUT``); run folders are read from ``OUT/runs`` and the
            teacher's from beside its checkpoint.
        results: ``results.json``'s content (:func:`signdistill.pipelines.compare_report.summarize`).

    Returns:
        The names of the files written, relative to ``out_dir``. Without matplotlib the figures an
        earlier run wrote are removed (they would show other results) and ``[]`` is returned.

    Example:
        >>> write_figures(Path("cmp"), json.loads(Path("cmp/results.json").read_text()))  # doctest: +SKIP
        ['wer_forest.png', 'wer_forest.svg', 'dev_wer_per_epoch.png', 'dev_wer_per_epoch.svg']
    """
    if not figures_available():
        log.info(FIGURES_SKIPPED)
        for name in FIGURE_FILES:  # our own files from an earlier run, now stale
            (out_dir / name).unlink(missing_ok=True)
        return []
    written = _save(forest_figure(results), out_dir, FOREST)
    written += _save(curves_figure(read_curves(out_dir, results), results.get("epochs")), out_dir, CURVES)
    return written


def _save(fig: Any, out_dir: Path, stem: str) -> list[str]:
    """``stem.png`` and ``stem.svg`` atomically, without dates or version strings (reruns give the same bytes)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    names = []
    with matplotlib.rc_context(_RC):
        for fmt in FORMATS:
            metadata: dict[str, Any] = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
            with atomic_path(out_dir / f"{stem}.{fmt}") as tmp:
                fig.savefig(tmp, format=fmt, dpi=150, metadata=metadata, bbox_inches="tight")
            names.append(f"{stem}.{fmt}")
    return names


# -- the forest plot -----------------------------------------------------------------------------


def _decoders(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(key suffix, panel title): greedy, and the tuned LM beam when every recipe has beam numbers."""
    recipes = results.get("recipes", {})
    beam = bool(recipes) and all("test_wer_beam" in r for r in recipes.values())
    return [("", "greedy")] + ([("_beam", "LM beam (alpha/beta tuned on dev)")] if beam else [])


def forest_figure(results: dict[str, Any]) -> Any:
    """Top row: test WER % per seed and recipe; bottom row: the paired difference to ``ctc``; one column per decoder."""
    from matplotlib.figure import Figure

    decoders = _decoders(results)
    names = [TEACHER, *results.get("recipes", {})]
    height = 1.6 + 0.42 * len(names)
    fig = Figure(figsize=(4.6 * len(decoders) + 1.0, 2 * height), layout="constrained")
    axes = fig.subplots(2, len(decoders), sharey=True, squeeze=False)
    pct = int(round(100 * results.get("confidence", 0.95)))
    for col, (suffix, title) in enumerate(decoders):
        _wer_panel(axes[0][col], results, names, suffix)
        axes[0][col].set_title(f"{title}: test WER % per seed", fontsize=10)
        _difference_panel(axes[1][col], results, names, suffix)
        axes[1][col].set_title(f"{title}: recipe - {BASELINE}, {pct} % interval", fontsize=10)
    cache = "cache" in results.get("teacher", {})  # an imported teacher: no WER (it holds the training split only)
    labels = [f"{TEACHER} (not scored)" if cache else TEACHER, *names[1:]]
    for row in axes:
        row[0].set_yticks(range(len(names)), labels)
        row[0].set_ylim(len(names) - 0.5, -0.5)  # first recipe on top
    seeds = results.get("seeds", [])
    fig.suptitle(f"signdistill compare: test WER, seeds {seeds} (negative difference: fewer errors than {BASELINE})", fontsize=11)
    return fig


def _wer_panel(ax: Any, results: dict[str, Any], names: list[str], suffix: str) -> None:
    """Each seed a dot, the mean a bar; the teacher (one model) a diamond."""
    teacher = results.get("teacher", {}).get(f"test_wer{suffix}")
    if teacher is not None:
        ax.plot([teacher], [0], "D", color="0.3", markersize=6, label="teacher")
        ax.axvline(teacher, color="0.6", linewidth=0.8, linestyle=":")
    for y, name in enumerate(names[1:], start=1):
        r = results["recipes"][name]
        wers = r.get(f"test_wer{suffix}", [])
        ax.plot(wers, [y] * len(wers), "o", color=f"C{(y - 1) % 10}", alpha=0.75, markersize=5)
        mean = r.get(f"test_wer{suffix}_mean")
        if mean is not None:
            ax.plot([mean], [y], "|", color="black", markersize=16, markeredgewidth=2)
    ax.set_xlabel("test WER %  (dots: seeds, bar: mean)")
    ax.grid(axis="x", alpha=0.3)


def _difference_panel(ax: Any, results: dict[str, Any], names: list[str], suffix: str) -> None:
    """The paired difference to the baseline: mean and interval as an error bar, each seed's own difference a dot."""
    ax.axvline(0.0, color="black", linewidth=1.0)
    base = results["recipes"].get(BASELINE, {}).get(f"test_wer{suffix}", [])
    for y, name in enumerate(names[1:], start=1):
        r = results["recipes"][name]
        d = r.get(f"paired_test{suffix}")
        if name == BASELINE or d is None:
            ax.annotate("baseline" if name == BASELINE else "", (0.0, y), xytext=(4, 0), textcoords="offset points", va="center")
            continue
        wers = r.get(f"test_wer{suffix}", [])
        if len(wers) == len(base):  # seeds in the same order for every recipe: paired by seed
            ax.plot([a - b for a, b in zip(wers, base)], [y] * len(wers), "o", color="0.55", alpha=0.6, markersize=4)
        colour = _VERDICT_COLOURS.get(r.get(f"verdict{suffix}", ""), "0.35")
        err = [[d["mean"] - d["ci_low"]], [d["ci_high"] - d["mean"]]]
        ax.errorbar([d["mean"]], [y], xerr=err, fmt="s", color=colour, capsize=4, markersize=6, linewidth=2)
        label = f"{d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] {r.get(f'verdict{suffix}', '')}"
        ax.annotate(label, (d["mean"], y), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=7, color=colour)
    ax.set_xlabel(f"recipe - {BASELINE}, WER points (square: mean, dots: seeds)")
    ax.margins(x=0.15)  # room for the labels above the intervals
    ax.grid(axis="x", alpha=0.3)


# -- dev WER per epoch ---------------------------------------------------------------------------


def read_dev_curve(run_dir: Path) -> list[tuple[int, float]]:
    """``(epoch, dev WER %)`` from a run folder's ``metrics.jsonl`` (the last record of an epoch wins); [] when absent."""
    f = run_dir / "metrics.jsonl"
    if not f.is_file():
        return []
    by_epoch: dict[int, float] = {}
    for line in f.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line) if line.strip() else {}
        except ValueError:  # a line cut short by a kill: the rest is still worth drawing
            continue
        if isinstance(record, dict) and record.get("kind") == "epoch" and isinstance(record.get("dev/wer"), (int, float)):
            by_epoch[int(record["epoch"])] = float(record["dev/wer"])
    return sorted(by_epoch.items())


def read_curves(out_dir: Path, results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every run of the comparison (each recipe, seed and tuning point, and the teacher) with its dev curve."""
    from signdistill.pipelines.compare_plan import _point_id, _slug, point_label

    curves: list[dict[str, Any]] = []
    checkpoint = results.get("teacher", {}).get("checkpoint")
    if checkpoint:
        curve = read_dev_curve(Path(checkpoint).parent)
        if curve:
            curves.append({"recipe": TEACHER, "label": TEACHER, "chosen": True, "curve": curve})
    for name, r in results.get("recipes", {}).items():
        tuning = r.get("tuning", {})
        points = [p["point"] for p in tuning.get("dev_wer_by_point", [])] or [tuning.get("chosen", {})]
        for seed in r.get("seeds", []):
            for point in points:
                folder = out_dir / "runs" / _slug(name) / (f"seed{seed}-{_point_id(point)}" if point else f"seed{seed}")
                curve = read_dev_curve(folder)
                if curve:
                    label = f"{name} seed {seed}" + (f" [{point_label(point)}]" if point else "")
                    curves.append({"recipe": name, "label": label, "chosen": point == tuning.get("chosen", point), "curve": curve})
    return curves


def curves_figure(curves: list[dict[str, Any]], epochs: int | None = None) -> Any:
    """One line per run, coloured by recipe; a circle marks its best epoch, a triangle a best epoch that was its last."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    recipes = list(dict.fromkeys(c["recipe"] for c in curves))
    colour = {name: "0.3" if name == TEACHER else f"C{i % 10}" for i, name in enumerate(n for n in recipes if n != TEACHER)}
    colour[TEACHER] = "0.3"
    for c in sorted(curves, key=lambda c: c["chosen"]):  # the chosen runs drawn last, on top
        xs, ys = zip(*c["curve"])
        style = {"linewidth": 1.6, "alpha": 0.9} if c["chosen"] else {"linewidth": 0.9, "alpha": 0.35, "linestyle": "--"}
        ax.plot(xs, ys, color=colour[c["recipe"]], **style)
        best = min(range(len(ys)), key=lambda i: (ys[i], i))
        improving = best == len(ys) - 1 and len(ys) > 1
        ax.plot([xs[best]], [ys[best]], ">" if improving else "o", color=colour[c["recipe"]], markersize=7, markeredgecolor="black")
    handles = [Line2D([], [], color=colour[n], linewidth=2, label=n) for n in recipes]
    handles += [
        Line2D([], [], marker="o", color="0.5", markeredgecolor="black", linestyle="", label="best epoch"),
        Line2D([], [], marker=">", color="0.5", markeredgecolor="black", linestyle="", label="best = last epoch (still improving)"),
    ]
    if any(not c["chosen"] for c in curves):
        handles.append(Line2D([], [], color="0.5", linestyle="--", alpha=0.5, label="tuning point not chosen"))
    ax.legend(handles=handles, fontsize=8, loc="upper right", framealpha=0.85)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("dev WER % (greedy)")
    if epochs:
        ax.set_xlim(0.5, max([epochs] + [c["curve"][-1][0] for c in curves]) + 0.5)
    ax.grid(alpha=0.3)
    if not curves:
        ax.text(0.5, 0.5, "no run's metrics.jsonl has a dev WER yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"dev WER per epoch, {len(curves)} runs (one line each, coloured by recipe)", fontsize=10)
    return fig
