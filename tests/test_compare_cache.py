"""`signdistill compare` with an imported teacher (``teacher: {cache: DIR}``): distilling runs read the
cache, the teacher is not scored, recipes that need the online teacher and data.augment are refused,
and a changed cache is a changed run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from signdistill.cli import app

runner = CliRunner()
CACHE_RECIPE = {"name": "fact", "distill": {"loss": {"ctc": 0.5, "factorized": 0.5}}}


@pytest.fixture(scope="module")
def teacher_cache(synth, trained_teacher, tmp_path_factory) -> Path:
    """The tiny trained teacher's outputs on the training split, as `cache-teacher` writes them (what import-teacher writes too)."""
    from signdistill import pipelines
    from signdistill.config import DistillRunConfig, load_config
    from tests.conftest import make_run_config

    folder = tmp_path_factory.mktemp("cache")
    run = make_run_config(folder / "run", synth) | {"distill": {"teachers": [{"checkpoint": str(trained_teacher)}]}}
    pipelines.cache_teacher(load_config(None, [], DistillRunConfig, data=run), folder / "cache")
    return folder / "cache"


def _config(tmp_path: Path, synth: Path, cache: Path, **extra) -> Path:
    cfg = {
        "out": str(tmp_path / "cmp"),
        "data": {"train": str(synth / "train.jsonl"), "dev": str(synth / "dev.jsonl"), "test": str(synth / "test.jsonl"), "batch_size": 8},
        "teacher": {"cache": str(cache)},
        "student": {"layers": 1, "hidden": 12, "input_proj": 12},
        "recipes": ["ctc", CACHE_RECIPE],
        "seeds": 1,
        "epochs": 1,
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "bootstrap": 100,
        **extra,
    }
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_compare_with_an_imported_teacher_and_a_changed_cache(tmp_path, synth, teacher_cache):
    cache = Path(shutil.copytree(teacher_cache, tmp_path / "cache"))
    config = _config(tmp_path, synth, cache)
    res = runner.invoke(app, ["compare", "--config", str(config), "--jobs", "2"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "cmp"
    results = json.loads((out / "results.json").read_text())
    assert results["teacher"] == {"cache": str(cache)}  # no WER: the cache holds the training split only
    assert results["recipes"]["fact"]["gap_recovered"] is None and "paired_test" in results["recipes"]["fact"]
    run = yaml.safe_load((out / "runs" / "fact" / "seed0" / "config.yaml").read_text())
    assert run["distill"]["teacher_cache"] == str(cache) and not run["distill"]["teachers"]
    md = (out / "results.md").read_text()
    assert "| teacher (cache) |  | not scored | not scored |" in md and "n/a: teacher not scored" in md
    assert "figures_skipped" not in results or results["figures_skipped"].startswith("no figures written: they need matplotlib")
    # The cache is part of the run's inputs: changed, the finished distilled run is refused, not reused.
    index = json.loads((cache / "index.json").read_text())
    (cache / "index.json").write_text(json.dumps(index | {"note": "re-imported"}))
    res = runner.invoke(app, ["compare", "--config", str(config)])
    assert res.exit_code == 2, res.output
    said = " ".join(res.output.split())
    assert "made with other inputs (teacher changed" in said and "fact seed 0" in said


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"recipes": ["ctc", "default"]}, "the recipe 'default' needs the online teacher (loss.feature 1"),
        ({"recipes": ["ctc", {"name": "mine", "base": "factorized", "distill": {"loss": {"feature": 0.3}}}]}, "the recipe 'mine' needs"),
        ({"data": {"augment": {"frame_drop": 0.1}}}, "teacher.cache holds the teacher's outputs for the original frames"),
        ({"tune": {"data.augment.noise": [0.0, 0.1]}}, "Remove data.augment from the comparison"),
        ({"teacher": {"cache": "CACHE", "checkpoint": "x"}}, "exactly one of"),
        ({"teacher": {"cache": "EMPTY"}}, "is not a teacher cache"),
    ],
)
def test_what_a_teacher_cache_cannot_serve_is_refused_up_front(tmp_path, synth, teacher_cache, extra, message):
    (tmp_path / "empty").mkdir()
    if "data" in extra:
        extra = {"data": {k: str(synth / f"{k}.jsonl") for k in ("train", "dev", "test")} | extra["data"]}
    if "teacher" in extra:
        names = {"CACHE": str(teacher_cache), "EMPTY": str(tmp_path / "empty")}
        extra = {"teacher": {k: names.get(v, v) for k, v in extra["teacher"].items()}}
    res = runner.invoke(app, ["compare", "--config", str(_config(tmp_path, synth, teacher_cache, **extra))])
    assert res.exit_code == 2, res.output
    said = " ".join(res.output.split())
    assert message in said and "Traceback" not in res.output
    if "recipes" in extra:  # the fix is named
        assert "`factorized`, `frame-kl-keep`" in said and "signdistill compare --list-recipes" in said
    assert not (tmp_path / "cmp").exists()  # nothing was written


def test_forest_figure_of_a_cache_teacher(tmp_path):
    pytest.importorskip("matplotlib")
    from signdistill.pipelines.compare_figures import write_figures

    pd = {"mean": -1.0, "ci_low": -2.0, "ci_high": 0.5, "verdict": "within noise"}
    r = {"parameters": 10, "seeds": [0], "test_wer": [40.0], "test_wer_mean": 40.0, "gap_recovered": None, "verdict": "baseline"}
    results = {"seeds": [0], "epochs": 1, "confidence": 0.95, "teacher": {"cache": "cache/x"}}
    results["recipes"] = {"ctc": r, "fact": r | {"test_wer": [39.0], "test_wer_mean": 39.0, "paired_test": pd, "verdict": "within noise"}}
    assert write_figures(tmp_path, results)
