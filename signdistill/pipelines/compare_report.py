"""`signdistill compare`'s report: per-recipe statistics and verdicts, ``results.json`` and ``results.md``.

:mod:`signdistill.pipelines.compare` trains and scores the runs of a plan; this module turns their
scores into the comparison (:func:`summarize`, whose dict is ``results.json``), writes it with its
figures (:func:`write_results`, :mod:`signdistill.pipelines.compare_figures`) and lays it out
(:func:`results_markdown`, :func:`results_tables`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signdistill.config import CompareConfig
from signdistill.errors import SignDistillError
from signdistill.io import write_json_atomic, write_text_atomic
from signdistill.pipelines.compare_contrasts import Errors, contrast_rows, contrasts, fmt_interval
from signdistill.recipes import BASELINE

if TYPE_CHECKING:
    from signdistill.pipelines.compare_plan import Plan

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
UNTRAINED_WER = 90.0  # mean dev WER % from which a recipe's models count as not trained
SPLITS = ("dev", "test")


def write_results(out_dir: Path, results: dict[str, Any]) -> None:
    """``OUT/results.json`` (the dict itself), ``OUT/results.md`` (its tables) and the figures, each written atomically.

    ``results`` gains ``figures`` (the files written beside results.md) and, when none could be
    drawn, ``figures_skipped`` (why); a comparison never fails for want of a figure.
    """
    from signdistill.pipelines.compare_figures import FIGURES_SKIPPED, write_figures

    results.pop("figures_skipped", None)
    try:
        results["figures"] = write_figures(out_dir, results)
    except Exception as exc:  # noqa: BLE001 - hours of training must not be lost to a drawing error
        log.warning("compare: the figures could not be drawn: %s", exc)
        results["figures"], results["figures_skipped"] = [], f"no figures written: {type(exc).__name__}: {exc}"
    if not results["figures"]:
        results.setdefault("figures_skipped", FIGURES_SKIPPED)
    write_json_atomic(out_dir / "results.json", results)
    write_text_atomic(out_dir / "results.md", results_markdown(results))


# -- summarizing -------------------------------------------------------------------------------


def teacher_scores(cfg: CompareConfig, p: Plan, trained: dict[str, Any] | None, beam: dict[str, Any] | None) -> dict[str, Any]:
    """results.json's teacher: WER of the trained (or given) teacher, greedy and, when scored, LM beam.

    A teacher cache (an imported teacher) holds the training split only: it is recorded as ``{"cache": DIR}``, not scored.
    """
    if p.teacher_cache is not None:
        return {"cache": str(p.teacher_cache)}
    assert p.teacher_checkpoint is not None
    if trained is None:
        from signdistill.pipelines.decoding import evaluate

        res: dict[str, Any] = {"checkpoint": str(p.teacher_checkpoint)}
        for split in ("dev", "test"):
            e = evaluate(p.teacher_checkpoint, getattr(cfg.data, split), device="cpu")
            res[f"{split}_wer"] = e.wer
            res["parameters"] = e.parameters
    else:
        res = {"checkpoint": str(p.teacher_checkpoint), "dev_wer": trained["dev"]["wer"], "test_wer": trained["test"]["wer"]}
        res["parameters"] = trained["parameters"]
    if beam is not None:
        res["dev_wer_beam"], res["test_wer_beam"] = beam["dev"]["wer"], beam["test"]["wer"]
        res["decoder"] = {"alpha": beam["alpha"], "beta": beam["beta"]}
    return res


def choose_points(p: Plan, runs: list[dict[str, Any]]) -> tuple[list[int], dict[str, Any]]:
    """Per recipe, the tuning point with the lowest mean dev WER over seeds (same grid for every recipe)."""
    import statistics

    chosen: list[int] = []
    tuning: dict[str, Any] = {}
    for name in p.recipes:
        by_point: dict[int, list[float]] = {}
        for i, job in enumerate(p.jobs):
            if job.recipe == name:
                by_point.setdefault(job.point, []).append(runs[i]["dev"]["wer"])
        means = {pt: statistics.mean(v) for pt, v in by_point.items()}
        best = min(means, key=lambda pt: (means[pt], pt))
        tuning[name] = {
            "chosen": p.points[best],
            "dev_wer_by_point": [{"point": p.points[pt], "dev_wer_mean": means[pt]} for pt in sorted(means)],
        }
        chosen += [i for i, job in enumerate(p.jobs) if job.recipe == name and job.point == best]
    return chosen, tuning


def _errors(refs: dict[str, list[str]], hyps: dict[str, str]) -> Any:
    from signdistill.evaluation.stats import utterance_errors

    ids = list(refs)
    missing = [i for i in ids if i not in hyps]
    if missing:
        raise SignDistillError(
            f"compare: a run's stored hypotheses lack utterance {missing[0]!r} of the current manifest (the manifest changed?). "
            "Use a new --out folder."
        )
    return utterance_errors([refs[i] for i in ids], [hyps[i].split() for i in ids])


def summarize(
    cfg: CompareConfig,
    p: Plan,
    runs: list[dict[str, Any]],
    chosen: list[int],
    tuning: dict[str, Any],
    beams: dict[int, dict[str, Any]],
    teacher: dict[str, Any],
) -> dict[str, Any]:
    """Per recipe: WER per seed, mean +- std, paired difference to ``ctc`` with its interval, gap recovered, verdict."""
    from signdistill.data import read_manifest

    refs = {split: {u.id: list(u.glosses) for u in read_manifest(getattr(cfg.data, split))} for split in SPLITS}
    suffixes = [""] + (["_beam"] if beams else [])  # greedy, and the tuned LM beam search when it ran
    per_recipe: dict[str, dict[str, Any]] = {}
    errs: Errors = {}
    lengths: dict[str, Any] = {}  # split -> reference glosses per utterance
    for name in p.recipes:
        idx = sorted((i for i in chosen if p.jobs[i].recipe == name), key=lambda i: p.jobs[i].seed)
        r = _recipe_runs(cfg, p, name, idx, runs, tuning[name])
        for suffix in suffixes:
            src = [beams[i] if suffix else runs[i] for i in idx]
            for split in SPLITS:
                errs[(name, split, suffix)], lengths[split] = _add_wers(r, refs[split], src, split, suffix)
            if suffix:
                r["decoder"] = [{"alpha": s["alpha"], "beta": s["beta"]} for s in src]
        per_recipe[name] = r
    for name, r in per_recipe.items():
        _add_verdicts(cfg, name, r, per_recipe[BASELINE], teacher, suffixes, errs, lengths)
    _withhold_untrained_verdicts(per_recipe)
    untrained = {name for name, r in per_recipe.items() if r["dev_wer_mean"] >= UNTRAINED_WER}
    extra = {"contrasts": contrasts(cfg, errs, lengths, suffixes, untrained)} if cfg.contrasts else {}
    return {
        "schema": SCHEMA_VERSION,
        "warnings": _warnings(per_recipe, teacher),
        "method": "hierarchical paired bootstrap over test utterances and seeds (signdistill.evaluation.stats)",
        "confidence": cfg.confidence,
        "bootstrap": cfg.bootstrap,
        "seeds": p.seeds,
        "epochs": cfg.epochs,
        "tune": cfg.tune,
        "test_utterances": int(len(lengths["test"])),
        "test_reference_glosses": int(lengths["test"].sum()),
        "dev_reference_glosses": int(lengths["dev"].sum()),
        "teacher": teacher,
        "recipes": per_recipe,
        **extra,
    }


def _recipe_runs(
    cfg: CompareConfig, p: Plan, name: str, idx: list[int], runs: list[dict[str, Any]], tuning: dict[str, Any]
) -> dict[str, Any]:
    """What a recipe's chosen runs (``idx``, by seed) report about their training."""
    return {
        "parameters": runs[idx[0]]["parameters"],
        "seeds": [p.jobs[i].seed for i in idx],
        "tuning": tuning,
        "distill": p.recipes[name],
        "best_epoch": [runs[i]["best_epoch"] for i in idx],
        "epochs_run": [runs[i]["epochs_run"] for i in idx],
        "first_nonblank_step": [runs[i].get("first_nonblank_step") for i in idx],
        "still_improving": [runs[i]["best_epoch"] == runs[i]["epochs_run"] == cfg.epochs for i in idx],
    }


def _add_wers(r: dict[str, Any], refs: dict[str, list[str]], src: list[dict[str, Any]], split: str, suffix: str) -> tuple[list[Any], Any]:
    """Store one split's WER per seed, mean and std in ``r``; return the per-seed utterance errors and the reference lengths."""
    from signdistill.evaluation.stats import mean_std

    wers = [s[split]["wer"] for s in src]
    r[f"{split}_wer{suffix}"] = wers
    r[f"{split}_wer{suffix}_mean"], r[f"{split}_wer{suffix}_std"] = mean_std(wers)
    e = [_errors(refs, s[split]["hypotheses"]) for s in src]
    return [x[0] for x in e], e[0][1]


def _add_verdicts(
    cfg: CompareConfig,
    name: str,
    r: dict[str, Any],
    base: dict[str, Any],
    teacher: dict[str, Any],
    suffixes: list[str],
    errs: Errors,
    lengths: dict[str, Any],
) -> None:
    """Paired differences to the baseline (dev, test), gap recovered, verdict and dev agreement, per decoder."""
    import numpy as np

    from signdistill.evaluation.stats import paired_difference

    def paired(a: tuple[str, str, str], b: tuple[str, str, str]) -> dict[str, Any]:
        d = paired_difference(np.stack(errs[a]), np.stack(errs[b]), lengths[a[1]], replicates=cfg.bootstrap, level=cfg.confidence)
        return d.to_dict()

    for suffix in suffixes:
        for split in SPLITS:
            r[f"paired_{split}{suffix}"] = paired((name, split, suffix), (BASELINE, split, suffix))
        gap = base[f"test_wer{suffix}_mean"] - teacher.get(f"test_wer{suffix}", float("nan"))
        gain = base[f"test_wer{suffix}_mean"] - r[f"test_wer{suffix}_mean"]
        r[f"gap_recovered{suffix}"] = gain / gap if gap > 0 else None
        r[f"verdict{suffix}"] = "baseline" if name == BASELINE else r[f"paired_test{suffix}"]["verdict"]
        dev_v, test_v = r[f"paired_dev{suffix}"]["verdict"], r[f"paired_test{suffix}"]["verdict"]
        r[f"consistent{suffix}"] = name != BASELINE and dev_v == test_v and test_v != "within noise"
    if "_beam" in suffixes:  # does the LM beam gain on top of greedy, for this recipe? (paired per seed, same models)
        r["beam_vs_greedy_test"] = paired((name, "test", "_beam"), (name, "test", ""))


def _withhold_untrained_verdicts(per_recipe: dict[str, dict[str, Any]]) -> None:
    """All-blank models "agree" perfectly: no verdict about a recipe or baseline that did not learn."""
    untrained = {name for name, r in per_recipe.items() if r["dev_wer_mean"] >= UNTRAINED_WER}
    for name, r in per_recipe.items():
        if name != BASELINE and (untrained & {name, BASELINE}):
            for key in [k for k in r if k.startswith("verdict")]:
                r[key] = "not meaningful"


def _warnings(per_recipe: dict[str, dict[str, Any]], teacher: dict[str, Any]) -> list[str]:
    warnings = [
        f"{name}: mean dev WER {r['dev_wer_mean']:.1f} %: these models did not learn, so their comparison means nothing; "
        "train longer (epochs) or check the data"
        for name, r in per_recipe.items()
        if r["dev_wer_mean"] >= UNTRAINED_WER
    ]
    if teacher.get("dev_wer", 0.0) >= UNTRAINED_WER:
        warnings.append(f"teacher: dev WER {teacher['dev_wer']:.1f} %: it did not learn; it has nothing to teach")
    return warnings


# -- laying out --------------------------------------------------------------------------------


NOT_SCORED = "not scored"  # a teacher cache's row: it holds the training split only


def _teacher_row(t: dict[str, Any], suffix: str) -> list[str]:
    if f"test_wer{suffix}" not in t:  # a teacher cache (results.json: {"cache": DIR})
        return ["teacher (cache)", "", NOT_SCORED, NOT_SCORED, "", "", "", ""]
    return ["teacher", f"{t['parameters']:,}", f"{t[f'dev_wer{suffix}']:.2f}", f"{t[f'test_wer{suffix}']:.2f}", "", "", "", ""]


def _rows(results: dict[str, Any], suffix: str = "") -> tuple[list[str], list[list[str]]]:
    """Columns and rows of one decoder's table (``suffix`` "" for greedy, "_beam" for tuned LM beam)."""
    pct = int(round(100 * results["confidence"]))
    cols = ["recipe", "params", "dev WER", "test WER", f"test diff vs ctc ({pct}% CI)", "gap recovered", "verdict", "dev agrees"]
    t = results["teacher"]
    rows = [_teacher_row(t, suffix)]
    no_gap = "n/a: teacher no better" if f"test_wer{suffix}" in t else f"n/a: teacher {NOT_SCORED}"
    for name, r in results["recipes"].items():
        base = name == "ctc"
        gap = r[f"gap_recovered{suffix}"]
        rows.append(
            [
                name,
                f"{r['parameters']:,}",
                f"{r[f'dev_wer{suffix}_mean']:.2f} ± {r[f'dev_wer{suffix}_std']:.2f}",
                f"{r[f'test_wer{suffix}_mean']:.2f} ± {r[f'test_wer{suffix}_std']:.2f}",
                "" if base else fmt_interval(r[f"paired_test{suffix}"]),
                "" if base else no_gap if gap is None else f"{100 * gap:.0f}%",
                r[f"verdict{suffix}"],
                "" if base else ("yes" if r[f"consistent{suffix}"] else "no"),
            ]
        )
    return cols, rows


def _decoders(results: dict[str, Any]) -> list[tuple[str, str]]:
    beam = all("test_wer_beam" in r for r in results["recipes"].values())
    return [("", "greedy")] + ([("_beam", "LM beam, alpha/beta tuned on dev per model")] if beam else [])


def results_markdown(results: dict[str, Any]) -> str:
    """``results.md``: the comparison tables and how to read them."""
    lines = [
        "# signdistill compare",
        "",
        f"Seeds {results['seeds']}, {results['epochs']} epoch{'s' if results['epochs'] != 1 else ''}; "
        f"test set {results['test_utterances']} utterances, "
        f"{results['test_reference_glosses']} glosses. WER % as mean ± std over seeds. The difference is recipe - ctc "
        f"(negative: fewer errors), mean over seeds with a {int(round(100 * results['confidence']))} % hierarchical paired "
        'bootstrap interval over test utterances and seeds; verdict "helps" only when the whole interval is below 0. '
        "Gap recovered: (ctc - recipe) / (ctc - teacher), test WER means (n/a when the teacher is no better than ctc). "
        '"dev agrees": the dev split gives the same '
        'verdict (and it is not "within noise").',
    ]
    if "cache" in results["teacher"]:
        lines += [
            "",
            f"The teacher is a teacher cache ({results['teacher']['cache']}, e.g. from `signdistill import-teacher`): it holds "
            f"the teacher's outputs on the training split only, so the teacher is {NOT_SCORED} and no gap recovered is computed.",
        ]
    lines += [f"\n**Warning:** {w}." for w in results.get("warnings", [])]
    for suffix, title in _decoders(results):
        cols, rows = _rows(results, suffix)
        lines += ["", f"## {title}", "", "| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    cols, rows = contrast_rows(results, _decoders(results))
    if rows:
        lines += ["", "## Contrasts", "", "Recipe - reference, paired over the same seeds (negative: the recipe makes fewer errors).", ""]
        lines += ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines + _figures_markdown(results)) + "\n"


def _figures_markdown(results: dict[str, Any]) -> list[str]:
    """results.md's Figures section: the PNGs embedded, the SVGs linked, or why there are none."""
    if "figures" not in results:
        return []
    lines = ["", "## Figures", ""]
    if results.get("figures_skipped"):
        return lines + [f"_{results['figures_skipped']}._"]
    names = set(results["figures"])
    captions = {
        "wer_forest": "Test WER % of every seed per recipe (top) and the paired difference to ctc with its interval (bottom, "
        "a line at 0; left of it: fewer errors), greedy and, when scored, LM beam side by side.",
        "dev_wer_per_epoch": "Dev WER % after every epoch of every run, coloured by recipe; a circle marks the best epoch, "
        "a triangle a best epoch that was the last one (that run was still improving: train longer).",
    }
    for stem, caption in captions.items():
        if f"{stem}.png" in names:
            svg = f" ([SVG]({stem}.svg))" if f"{stem}.svg" in names else ""
            lines += [f"![{stem}]({stem}.png)", "", caption + svg, ""]
    return lines[:-1]


def results_tables(results: dict[str, Any]) -> Any:
    """The comparison as rich Tables (greedy, and LM beam when scored)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    tables: list[Any] = []
    style = {"helps": "green", "hurts": "red"}
    for suffix, title in _decoders(results):
        cols, rows = _rows(results, suffix)
        t = Table(title=f"compare, {title}: WER % over seeds {results['seeds']} ({results['test_reference_glosses']} test glosses)")
        for c in cols:
            t.add_column(c, justify="left" if c in ("recipe", "verdict") else "right")
        for row in rows:
            t.add_row(*[f"[{style[c]}]{c}[/]" if c in style else c for c in row])
        tables.append(t)
    cols, rows = contrast_rows(results, _decoders(results))
    if rows:
        t = Table(title="contrasts: recipe - reference, paired over the same seeds")
        for c in cols:
            t.add_column(c, justify="left" if c in ("recipe", "vs", "decoder", "verdict") else "right")
        for row in rows:
            t.add_row(*[f"[{style[c]}]{c}[/]" if c in style else c for c in row])
        tables.append(t)
    if results.get("seeds") and len(results["seeds"]) == 1:
        tables.append(Text("one seed: the intervals cover test-set noise only, not training noise (use 3-5 seeds)", style="yellow"))
    tables += [Text(f"warning: {w}", style="bold yellow") for w in results.get("warnings", [])]
    if results.get("figures"):
        tables.append(Text(f"figures beside results.md: {', '.join(results['figures'])}"))
    elif results.get("figures_skipped"):
        tables.append(Text(results["figures_skipped"], style="yellow"))
    return Group(*tables)
