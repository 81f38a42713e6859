"""`signdistill compare`'s figures: written beside results.md as valid PNG and SVG, embedded in it,
byte-identical on a rerun, and a note naming the ``plots`` extra when matplotlib is missing."""

from __future__ import annotations

import builtins
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from signdistill.pipelines.compare_figures import FIGURE_FILES, FIGURES_SKIPPED, forest_figure, read_curves, write_figures
from signdistill.pipelines.compare_report import results_markdown, write_results

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EPOCHS = 3


def _assert_valid(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000, path
    if path.suffix == ".png":
        assert path.read_bytes()[:8] == PNG_SIGNATURE
    else:
        root = ET.parse(path).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"


@pytest.fixture(scope="module")
def comparison(tmp_path_factory, synth, trained_teacher) -> Path:
    """A real tiny comparison (ctc and default, 2 seeds, 3 epochs, no LM) run once for this module."""
    from signdistill.config import CompareConfig
    from signdistill.pipelines.compare import compare

    out = tmp_path_factory.mktemp("figures") / "cmp"
    cfg = CompareConfig.model_validate(
        {
            "out": str(out),
            "data": {k: str(synth / f"{k}.jsonl") for k in ("train", "dev", "test")} | {"batch_size": 8},
            "teacher": {"checkpoint": str(trained_teacher)},
            "student": {"layers": 1, "hidden": 12, "input_proj": 12},
            "recipes": ["ctc", "default"],
            "seeds": 2,
            "epochs": EPOCHS,
            "optim": {"lr": 3e-3, "warmup_steps": 2},
            "bootstrap": 100,
        }
    )
    compare(cfg, jobs=2)
    return out


def test_compare_writes_valid_figures_next_to_results_md(comparison):
    results = json.loads((comparison / "results.json").read_text())
    assert results["figures"] == list(FIGURE_FILES) and "figures_skipped" not in results
    for name in FIGURE_FILES:
        _assert_valid(comparison / name)
    md = (comparison / "results.md").read_text()
    assert "## Figures" in md
    assert "![wer_forest](wer_forest.png)" in md and "![dev_wer_per_epoch](dev_wer_per_epoch.png)" in md
    assert "[SVG](wer_forest.svg)" in md and "[SVG](dev_wer_per_epoch.svg)" in md


def test_dev_curves_cover_every_run_and_the_teacher(comparison):
    results = json.loads((comparison / "results.json").read_text())
    curves = read_curves(comparison, results)
    labels = [c["label"] for c in curves]
    assert labels == ["teacher", "ctc seed 0", "ctc seed 1", "default seed 0", "default seed 1"]
    for c in curves[1:]:
        assert [epoch for epoch, _ in c["curve"]] == list(range(1, EPOCHS + 1))
        assert all(0.0 <= wer <= 100.0 for _, wer in c["curve"])
    assert [e for e, _ in curves[0]["curve"]] == [1, 2]  # the teacher fixture trained 2 epochs


def test_rewriting_the_same_results_gives_identical_bytes(comparison):
    results = json.loads((comparison / "results.json").read_text())
    before = {name: (comparison / name).read_bytes() for name in FIGURE_FILES}
    write_results(comparison, results)
    for name in FIGURE_FILES:
        assert (comparison / name).read_bytes() == before[name], name
    assert not list(comparison.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_quickstart_owns_the_figure_files():
    from signdistill.pipelines.quickstart import _quickstart_file

    assert all(_quickstart_file(f"compare/{name}") for name in FIGURE_FILES)
    assert not _quickstart_file("compare/my_plot.png")


# -- constructed results: LM beam panels, tuning points, and no matplotlib -----------------------


def _pd(mean: float, low: float, high: float, verdict: str) -> dict:
    return {"mean": mean, "ci_low": low, "ci_high": high, "verdict": verdict, "seeds": 2}


def _constructed(out: Path) -> dict:
    """results.json as summarize() writes it (greedy and beam), with metrics.jsonl in each run folder of a 2-point grid."""
    from signdistill.pipelines.compare_plan import _point_id

    points = [{"optim.lr": 0.001}, {"optim.lr": 0.01}]
    base = {"parameters": 1000, "seeds": [0, 1], "best_epoch": [3, 2], "epochs_run": [3, 3], "consistent": False}
    base |= {"dev_wer_mean": 40.0, "dev_wer_std": 1.0, "gap_recovered": None}
    recipes = {}
    for name, wers, d in [("ctc", [40.0, 42.0], _pd(0, 0, 0, "within noise")), ("frame-kl", [37.0, 38.5], _pd(-3.2, -5.0, -1.1, "helps"))]:
        r = dict(base, test_wer=wers, test_wer_mean=sum(wers) / 2, test_wer_std=1.0, paired_test=d)
        r |= {"test_wer_beam": [w - 3 for w in wers], "test_wer_beam_mean": sum(wers) / 2 - 3, "test_wer_beam_std": 1.0}
        r |= {"paired_test_beam": _pd(d["mean"] + 0.5, d["ci_low"], d["ci_high"] + 1.5, "within noise")}
        r |= {"dev_wer_beam_mean": 38.0, "dev_wer_beam_std": 1.0, "gap_recovered_beam": None, "consistent_beam": False}
        r |= {"verdict": "baseline" if name == "ctc" else "helps", "verdict_beam": "baseline" if name == "ctc" else "within noise"}
        r["tuning"] = {"chosen": points[1], "dev_wer_by_point": [{"point": p, "dev_wer_mean": 40.0} for p in points]}
        recipes[name] = r
        for seed in (0, 1):
            for point in points:
                run = out / "runs" / name / f"seed{seed}-{_point_id(point)}"
                run.mkdir(parents=True)
                lines = [{"kind": "step", "epoch": 1, "step": 1, "lr": 0.001}]
                lines += [{"kind": "epoch", "epoch": e, "step": 10 * e, "dev/wer": 60.0 - 5 * e - seed - len(name)} for e in (1, 2, 3)]
                (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    teacher = {"checkpoint": str(out / "teacher" / "best"), "parameters": 5000, "dev_wer": 30.0, "test_wer": 31.0}
    teacher |= {"dev_wer_beam": 28.0, "test_wer_beam": 29.0}
    return {"seeds": [0, 1], "epochs": 3, "confidence": 0.95, "test_utterances": 20, "test_reference_glosses": 100, "teacher": teacher} | {
        "dev_reference_glosses": 100,
        "recipes": recipes,
    }


def test_beam_results_get_greedy_and_beam_panels_side_by_side(tmp_path):
    results = _constructed(tmp_path)
    fig = forest_figure(results)
    assert len(fig.axes) == 4  # (WER, difference) x (greedy, beam)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("greedy") and titles[1].startswith("LM beam")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["teacher", "ctc", "frame-kl"]
    greedy_only = {**results, "recipes": {n: {k: v for k, v in r.items() if "beam" not in k} for n, r in results["recipes"].items()}}
    assert len(forest_figure(greedy_only).axes) == 2
    curves = read_curves(tmp_path, results)
    assert len(curves) == 2 * 2 * 2 and sum(c["chosen"] for c in curves) == 4  # every tuning point drawn, the chosen ones solid
    assert "[optim.lr=0.01]" in curves[1]["label"]
    assert write_figures(tmp_path, results) == list(FIGURE_FILES)
    for name in FIGURE_FILES:
        _assert_valid(tmp_path / name)


def test_without_matplotlib_compare_writes_results_and_a_note(tmp_path, monkeypatch):
    results = _constructed(tmp_path)
    write_results(tmp_path, results)  # figures from an earlier run with matplotlib
    assert all((tmp_path / name).is_file() for name in FIGURE_FILES)
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    results = _constructed(tmp_path / "again")
    write_results(tmp_path, results)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["figures"] == [] and saved["figures_skipped"] == FIGURES_SKIPPED
    assert "pip install 'signdistill[plots]'" in FIGURES_SKIPPED
    md = (tmp_path / "results.md").read_text()
    assert "## Figures" in md and FIGURES_SKIPPED in md and ".png" not in md
    assert not any((tmp_path / name).exists() for name in FIGURE_FILES)  # stale figures of other results are gone


def test_results_markdown_without_figure_keys_is_unchanged(tmp_path):
    """results.json written before figures existed (no "figures" key) lays out as before."""
    results = _constructed(tmp_path)
    assert "## Figures" not in results_markdown(results)
