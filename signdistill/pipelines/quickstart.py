"""``signdistill quickstart``: synthesize data, train a teacher and two students, compare them honestly (with figures)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from signdistill.checkpoint import load_checkpoint
from signdistill.errors import ConfigError, SignDistillError
from signdistill.io import write_text_atomic
from signdistill.pipelines.compare_results import CompareResults, QuickstartReport

# Small models for the embedded dataset (the plan's 5x384 / 4x256 are examples/configs/teacher.yaml
# and student.yaml). docs/benchmarks.md measures them with `signdistill compare`.
QUICKSTART_TEACHER = {"layers": 2, "hidden": 80, "input_proj": 80, "dropout": 0.1}
QUICKSTART_STUDENT = {"layers": 1, "hidden": 48, "input_proj": 48, "dropout": 0.1}
QUICKSTART_SIZES: dict[str, dict[str, Any]] = {
    "default": {
        "data": "quickstart",
        "teacher_epochs": 13,
        "student_epochs": 15,
        "alphas": [0.0, 0.5],
        "betas": [0.0, 2.0],
    },
    "small": {"data": "tiny", "teacher_epochs": 2, "student_epochs": 2, "alphas": [0.0, 1.0], "betas": [0.0, 2.0]},
}
QUICKSTART_MARKER = "quickstart.json"


def run_config(
    run_dir: Path,
    data_dir: Path,
    model: dict[str, Any],
    epochs: int,
    *,
    seed: int = 0,
    threads: int | None = None,
    lr: float = 3e-3,
    progress: bool = True,
) -> dict[str, Any]:
    """A plain-data run config for the embedded dataset (what the benchmarks and examples use)."""
    return {
        "seed": seed,
        "run_dir": str(run_dir),
        "data": {
            "train": str(data_dir / "train.jsonl"),
            "dev": str(data_dir / "dev.jsonl"),
            "test": str(data_dir / "test.jsonl"),
            "batch_size": 16,
        },
        "model": dict(model),
        "optim": {"lr": lr, "warmup_steps": 100},
        "train": {"epochs": epochs, "threads": threads, "progress": progress, "collapse_patience": 0},
    }


def quickstart_plan(size: str = "default", seeds: int = 1) -> str:
    """What quickstart is about to do, in one sentence (printed before it starts)."""
    spec = QUICKSTART_SIZES[size]
    n = 1 + 2 * seeds
    lm = " then tunes an LM beam search on dev for each model," if _beam_available() else ""
    return (
        f"quickstart: generates the embedded dataset, trains {n} models (a teacher for {spec['teacher_epochs']} epochs, then "
        f"{seeds} x a CTC-only student and {seeds} x a distilled student for {spec['student_epochs']} epochs each, in parallel),"
        f"{lm} and compares them with a paired bootstrap interval."
    )


def _beam_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyctcdecode") is not None and importlib.util.find_spec("kenlm") is not None


QUICKSTART_OUTPUTS = (QUICKSTART_MARKER, "data", "compare", "lm.arpa", "compare.yaml", "report.json")


_RUN_FILE = r"(config\.yaml|metrics\.jsonl|compare_run\.json|compare_beam\.json|decoder\.json|best|"
_RUN_FILE += r"(best|last)(\.old)?/(checkpoint\.json|model\.safetensors|training_state\.pt)|[^/]*\.tmp)"
_QUICKSTART_FILES = [
    r"quickstart\.json|lm\.arpa|compare\.yaml|report\.json|\.[^/]*\.tmp",
    r"data/(train|dev|test)\.jsonl|data/features/(train|dev|test)-s\d+-\d+\.npy|data/[^/]*\.tmp",
    r"compare/(\.signdistill-compare\.json|compare\.resolved\.yaml|compare\.yaml|results\.json|results\.md|\.lock|[^/]*\.tmp)",
    r"compare/(wer_forest|dev_wer_per_epoch)\.(png|svg)",
    r"compare/(teacher|teacher-eval|runs/[a-z0-9._-]+/seed-?\d+(-t[0-9a-f]{8})?)/" + _RUN_FILE,
]


def _quickstart_file(rel: str) -> bool:
    """A file quickstart writes under its --out (anything else there is the user's)."""
    import re

    return any(re.fullmatch(pattern, rel) for pattern in _QUICKSTART_FILES)


def check_quickstart_out(
    out: str | Path,
    *,
    size: str,
    seed: int,
    seeds: int,
    overwrite: bool,
    distill_recipe: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Check (and with ``overwrite`` clear, unless ``dry_run``) quickstart's output folder before anything runs; return its settings."""
    settings = {"size": size, "seed": seed, "seeds": seeds, "recipe": distill_recipe}
    _check_quickstart_out(Path(out).absolute(), overwrite, settings, dry_run=dry_run)
    return settings


def _check_quickstart_out(out: Path, overwrite: bool, settings: dict[str, Any], *, dry_run: bool = False) -> None:
    """Refuse an output folder that is not an earlier quickstart (or one with other settings, unless ``overwrite``).

    With ``overwrite`` only what quickstart writes is deleted; a folder that also holds anything
    else is refused.
    """
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"quickstart --out {out} is a file, not a folder. Nothing was changed; pick another path.")
    if not any(out.iterdir()):
        return
    marker = out / QUICKSTART_MARKER
    if not marker.is_file():
        raise ConfigError(
            f"quickstart --out {out} exists and is not a quickstart folder. Nothing was changed; pick another path "
            "(--overwrite only replaces an earlier quickstart)."
        )
    if overwrite:
        from signdistill.io import refuse_unexpected

        refuse_unexpected(out, _quickstart_file, "quickstart")
        if dry_run:
            return
        for name in QUICKSTART_OUTPUTS:
            p = out / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
        return
    import json

    try:
        previous = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    differs = sorted(k for k in settings if previous.get(k) != settings[k])
    if differs:
        was = ", ".join(f"--{k} {previous.get(k)}" for k in differs)
        raise ConfigError(
            f"quickstart --out {out} holds an earlier quickstart with other settings ({was}). Nothing was changed; "
            "pass --overwrite to replace it, or pick another --out."
        )


def quickstart(
    out: str | Path,
    *,
    size: str = "default",
    seed: int = 0,
    seeds: int = 1,
    jobs: int | None = None,
    overwrite: bool = False,
    on_event: Any = None,
    distill_recipe: dict[str, Any] | None = None,
) -> QuickstartReport:
    """Synthesize data; train a teacher, CTC-only and distilled students; compare them honestly.

    Runs a small :mod:`signdistill.pipelines.compare` (recipes ``ctc`` and ``default``, ``seeds``
    seeds from ``seed``) and reads the plan's success criteria off its intervals. Writes ``data/``,
    ``compare.yaml`` (rerun it with more seeds: ``signdistill compare -c OUT/compare.yaml``),
    ``compare/`` and ``report.json`` under ``out``. An earlier quickstart in ``out`` is resumed.

    Returns:
        A :class:`~signdistill.pipelines.compare_results.QuickstartReport`; its ``to_dict()`` is ``report.json``.
    """
    from signdistill.data.synth import generate
    from signdistill.io import write_json_atomic
    from signdistill.pipelines.compare import compare

    if size not in QUICKSTART_SIZES:
        raise ConfigError(f"--size {size!r} is not one of {sorted(QUICKSTART_SIZES)}.")
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}.")
    spec = QUICKSTART_SIZES[size]
    out = Path(out).absolute()  # compare.yaml then works from any folder
    settings = check_quickstart_out(out, size=size, seed=seed, seeds=seeds, overwrite=overwrite, distill_recipe=distill_recipe)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / QUICKSTART_MARKER, settings)
    data_dir = out / "data"
    if not (data_dir / "test.jsonl").exists():  # generate() moves test.jsonl in last
        # overwrite: a dataset half-written by an older version is replaced; a folder of other files is still refused
        generate(data_dir, seed=seed, size=spec["data"], overwrite=True)
    beam = _beam_available()
    cfg = _compare_config(out, spec, seed=seed, seeds=seeds, distill_recipe=distill_recipe, beam=beam)
    write_text_atomic(out / "compare.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    compared = compare(cfg, jobs=jobs, on_event=on_event)
    if not isinstance(compared, CompareResults):  # only a detached comparison returns before its results
        raise SignDistillError(f"quickstart: the comparison in {out / 'compare'} did not finish; run quickstart again.")
    results = compared.to_dict()
    name = "distilled" if distill_recipe else "default"
    rows = {"teacher": results["teacher"], "student": results["recipes"]["ctc"], "distilled": results["recipes"][name]}
    models = _model_rows(out, rows, name, seed=seed, beam=beam)
    report = _report(out, size, seeds, results, models, rows["distilled"], beam=beam)
    write_json_atomic(out / "report.json", report)
    return QuickstartReport.from_dict(report)


def _compare_config(out: Path, spec: dict[str, Any], *, seed: int, seeds: int, distill_recipe: dict[str, Any] | None, beam: bool) -> Any:
    """The comparison quickstart runs (building the gloss LM first when beam search is available)."""
    from signdistill.config import CompareConfig
    from signdistill.pipelines.decoding import build_lm

    data_dir = out / "data"
    cfg_data: dict[str, Any] = {
        "out": str(out / "compare"),
        "data": {
            "train": str(data_dir / "train.jsonl"),
            "dev": str(data_dir / "dev.jsonl"),
            "test": str(data_dir / "test.jsonl"),
            "batch_size": 16,
        },
        "teacher": {"model": QUICKSTART_TEACHER, "epochs": spec["teacher_epochs"], "seed": seed},
        "student": QUICKSTART_STUDENT,
        "recipes": ["ctc", {"name": "distilled", "distill": distill_recipe}] if distill_recipe else ["ctc", "default"],
        "seeds": list(range(seed, seed + seeds)),
        "epochs": spec["student_epochs"],
        "optim": {"lr": 3e-3, "warmup_steps": 100},
    }
    if beam:
        lm = out / "lm.arpa"
        if not lm.exists():
            build_lm(data_dir / "train.jsonl", lm, order=3)
        cfg_data["lm"] = {"path": str(lm), "alphas": spec["alphas"], "betas": spec["betas"]}
    return CompareConfig.model_validate(cfg_data)


def _model_rows(out: Path, rows: dict[str, Any], name: str, *, seed: int, beam: bool) -> dict[str, Any]:
    """Parameters, size on disk, WERs and speed of the teacher, the CTC student and the distilled student."""
    from signdistill.benchmark import frames_per_second

    models: dict[str, Any] = {}
    for key, r in rows.items():
        run = out / "compare" / ("teacher" if key == "teacher" else f"runs/{'ctc' if key == 'student' else name}/seed{seed}")
        best = load_checkpoint(run / "best")
        models[key] = {
            "parameters": best.model.num_parameters(),
            "size_bytes": (run / "best" / "model.safetensors").stat().st_size,
            "dev_wer": r.get("dev_wer_mean", r.get("dev_wer")),
            "test_wer": r.get("test_wer_mean", r.get("test_wer")),
            "frames_per_s": frames_per_second(best.model, threads=1),
        }
        if beam:
            models[key]["test_wer_beam"] = r.get("test_wer_beam_mean", r.get("test_wer_beam"))
    return models


def _report(
    out: Path, size: str, seeds: int, results: dict[str, Any], models: dict[str, Any], d: dict[str, Any], *, beam: bool
) -> dict[str, Any]:
    """quickstart's report.json: the model rows, the distilled-vs-student intervals and the plan's criteria."""
    report: dict[str, Any] = {
        "size": size,
        "seeds": results["seeds"],
        "interval": (
            f"{int(round(100 * results['confidence']))} % paired bootstrap over {results['test_utterances']} test utterances"
            + (f" and {seeds} seeds" if seeds > 1 else " (one seed: test-set noise only, not training noise)")
        ),
        "models": models,
        "distilled_vs_student": {"greedy": d["paired_test"], "greedy_dev": d["paired_dev"]},
        "compare": str(out / "compare" / "results.json"),
        # the comparison's figures (teacher, student and distilled student), embedded in compare/results.md
        "figures": [str(out / "compare" / name) for name in results.get("figures", [])],
    }
    if results.get("figures_skipped"):
        report["figures_skipped"] = results["figures_skipped"]
    criteria = _criteria(models, d, beam=beam)
    # Models that learned nothing make every comparison meaningless (all at 100 % WER "agree").
    stuck = [k for k, m in models.items() if m["dev_wer"] >= 90.0]
    if stuck:
        report["warning"] = (
            f"{', '.join(stuck)} did not learn (dev WER >= 90 %): the criteria above that compare WERs mean nothing. "
            "Train longer (the default size, or more epochs)."
        )
        criteria = {k: {**v, "result": "not meaningful"} if _about_wer(k) else v for k, v in criteria.items()}
    if beam:
        report["distilled_vs_student"]["beam"] = d["paired_test_beam"]
    report["criteria"] = criteria
    return report


def _criteria(models: dict[str, Any], d: dict[str, Any], *, beam: bool) -> dict[str, Any]:
    """The plan's success criteria, read off the comparison's intervals."""
    gap = models["distilled"]["test_wer"] - models["teacher"]["test_wer"]
    dev_d = d["paired_dev"]
    criteria: dict[str, Any] = {
        "distilled student within 1 point of the teacher (greedy)": _crit(gap < 1.0, f"{gap:+.2f} points"),
        "distillation beats baseline (greedy)": _crit_interval(d["paired_test"]),
        "improvement consistent across dev and test (greedy)": _crit(
            d["consistent"] and d["paired_test"]["verdict"] == "helps",
            f"dev {dev_d['mean']:+.2f} [{dev_d['ci_low']:+.2f}, {dev_d['ci_high']:+.2f}]",
        ),
        "size unchanged": _crit(
            models["distilled"]["size_bytes"] == models["student"]["size_bytes"], f"{models['distilled']['size_bytes']:,} bytes"
        ),
        "speed at least 30 frames/s (1 thread)": _crit(
            models["distilled"]["frames_per_s"] >= 30.0, f"{models['distilled']['frames_per_s']:,.0f}"
        ),
    }
    if beam:
        criteria["beam search gains on top (distilled)"] = _crit_interval(d["beam_vs_greedy_test"])
        criteria["distillation beats baseline (tuned LM beam)"] = _crit_interval(d["paired_test_beam"])
    return criteria


def _about_wer(criterion: str) -> bool:
    """Criteria that compare WERs (size and speed do not depend on training)."""
    return not criterion.startswith(("size", "speed"))


def _crit(ok: bool, value: str = "") -> dict[str, Any]:
    return {"result": "pass" if ok else "fail", "value": value}


def _crit_interval(pd: dict[str, Any]) -> dict[str, Any]:
    """pass only when the interval of the difference lies below 0; 'within noise' when it contains 0.

    With one seed the interval covers test-set noise only: a pass then reads "pass (1 seed)",
    since another seed could undo it (training noise is not in the interval).
    """
    result = {"helps": "pass", "hurts": "fail"}.get(pd["verdict"], "within noise")
    if result != "within noise" and pd.get("seeds", 2) == 1:
        result += " (1 seed)"
    return {"result": result, "difference": pd["mean"], "ci_low": pd["ci_low"], "ci_high": pd["ci_high"]}


def quickstart_table(report: dict[str, Any]) -> Any:
    """The quickstart report as rich renderables: the model table and the plan's criteria."""
    from rich.console import Group
    from rich.table import Table

    beam = all("test_wer_beam" in m for m in report["models"].values())
    seeds = report["seeds"]
    over = f"mean of seeds {seeds}" if len(seeds) > 1 else f"seed {seeds[0]}"
    t = Table(title=f"signdistill quickstart (embedded dataset, size={report['size']}, {over})")
    cols = ["model", "params", "size on disk", "dev WER % (greedy)", "test WER % (greedy)"]
    cols += ["test WER % (tuned LM beam)"] if beam else []
    for col in [*cols, "frames/s (1 thread)"]:
        t.add_column(col, justify="left" if col == "model" else "right")
    for name, m in report["models"].items():
        t.add_row(
            name,
            f"{m['parameters']:,}",
            f"{m['size_bytes'] / 1e6:.2f} MB",
            f"{m['dev_wer']:.2f}",
            f"{m['test_wer']:.2f}",
            *([f"{m['test_wer_beam']:.2f}"] if beam else []),
            f"{m['frames_per_s']:,.0f}",
        )
    c = Table(title=f"the plan's success criteria (differences in WER points, {report['interval']})")
    c.add_column("criterion")
    c.add_column("value / difference [interval]", justify="right")
    c.add_column("result", justify="right")
    colour = {"pass": "green", "fail": "red", "within noise": "yellow", "not meaningful": "yellow"}
    for k, v in report["criteria"].items():
        diff = f"{v['difference']:+.2f} [{v['ci_low']:+.2f}, {v['ci_high']:+.2f}]" if "difference" in v else v.get("value", "")
        c.add_row(k, diff, f"[{colour[v['result'].split(' (')[0]]}]{v['result']}[/]")
    from rich.text import Text

    parts: list[Any] = [t, c]
    if report.get("warning"):
        parts.append(Text(f"warning: {report['warning']}", style="bold yellow"))
    pngs = [f for f in report.get("figures", []) if f.endswith(".png")]
    if pngs:
        parts.append(Text(f"figures: {', '.join(pngs)} (and .svg; embedded in compare/results.md)"))
    elif report.get("figures_skipped"):
        parts.append(Text(report["figures_skipped"], style="yellow"))
    return Group(*parts)
