import json
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from signdistill import __version__
from signdistill.cli import app
from tests.conftest import make_run_config

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_version_and_help():
    r = invoke("--version")
    assert r.exit_code == 0 and __version__ in r.output
    r = invoke("--help")
    for cmd in ("train-teacher", "distill", "evaluate", "export", "quickstart", "cache-teacher", "data"):
        assert cmd in r.output


def test_data_synth_and_check(tmp_path):
    r = invoke("data", "synth", "--out", tmp_path / "d", "--size", "tiny", "--seed", "3")
    assert r.exit_code == 0, r.output
    r = invoke("data", "check", tmp_path / "d" / "train.jsonl", "--json", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["ok"] and report["stats"]["feature_dim"] == 36


def test_data_check_fails_on_bad_data(tmp_path, synth):
    shutil.copytree(synth, tmp_path / "d")
    first = json.loads((tmp_path / "d" / "dev.jsonl").read_text().splitlines()[0])
    (tmp_path / "d" / first["features"]).unlink()
    r = invoke("data", "check", tmp_path / "d" / "dev.jsonl")
    assert r.exit_code == 2 and "does not exist" in r.output and "Traceback" not in r.output


@pytest.fixture(scope="module")
def cli_run(synth, tmp_path_factory):
    """One real train-teacher run through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    cfg = root / "teacher.yaml"
    cfg.write_text(yaml.safe_dump(make_run_config(root / "run", synth, epochs=2)))
    r = invoke("train-teacher", "--config", cfg, "--set", "optim.lr=0.004")
    assert r.exit_code == 0, r.output
    return root, cfg


def test_train_teacher_end_to_end(cli_run, synth):
    root, _ = cli_run
    run = root / "run"
    for f in ("config.yaml", "metrics.jsonl", "best/model.safetensors", "best/checkpoint.json", "last/training_state.pt"):
        assert (run / f).exists(), f
    assert yaml.safe_load((run / "config.yaml").read_text())["optim"]["lr"] == 0.004
    epochs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"epoch"' in x]
    assert [e["epoch"] for e in epochs if e["kind"] == "epoch"] == [1, 2]


def test_evaluate_identical_across_batch_sizes(cli_run, synth):
    root, _ = cli_run
    outs = []
    for bs in (1, 3, 64):
        r = invoke(
            "evaluate",
            "--checkpoint",
            root / "run" / "best",
            "--manifest",
            synth / "test.jsonl",
            "--batch-size",
            bs,
            "--json",
            root / f"e{bs}.json",
        )
        assert r.exit_code == 0, r.output
        outs.append(json.loads((root / f"e{bs}.json").read_text()))
    assert outs[0]["hypotheses"] == outs[1]["hypotheses"] == outs[2]["hypotheses"]
    assert {"wer", "wer_jiwer", "substitutions", "deletions", "insertions", "sentence_error_rate", "per_signer"} <= set(outs[0])


def test_export_safetensors_roundtrip(cli_run, synth):
    root, _ = cli_run
    r = invoke("export", "--checkpoint", root / "run" / "best", "--out", root / "exp16", "--dtype", "fp16")
    assert r.exit_code == 0, r.output
    r = invoke("evaluate", "--checkpoint", root / "exp16", "--manifest", synth / "dev.jsonl")
    assert r.exit_code == 0, r.output


def test_errors_exit_2_without_traceback_and_keep_checkpoints(cli_run, tmp_path):
    root, cfg = cli_run
    best = root / "run" / "best" / "model.safetensors"
    before = best.read_bytes()
    bad = tmp_path / "bad.yaml"
    bad.write_text(cfg.read_text().replace("epochs: 2", "epochz: 2"))
    cases = [
        ("train-teacher", "--config", bad),
        ("train-teacher", "--config", cfg, "--set", "model.layers=3"),  # a different run in the same folder
        ("train-teacher", "--config", tmp_path / "missing.yaml"),
        ("evaluate", "--checkpoint", tmp_path, "--manifest", root / "x.jsonl"),
        ("evaluate", "--checkpoint", root / "run" / "best", "--manifest", tmp_path / "none.jsonl"),
        ("export", "--checkpoint", root / "run" / "best", "--out", tmp_path / "o", "--format", "tflite"),
    ]
    for args in cases:
        r = invoke(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output and "error:" in r.output, r.output
    assert best.read_bytes() == before


def test_incomplete_and_corrupt_checkpoint(cli_run, tmp_path, synth):
    root, _ = cli_run
    broken = tmp_path / "ck"
    shutil.copytree(root / "run" / "best", broken)
    (broken / "checkpoint.json").unlink()
    r = invoke("evaluate", "--checkpoint", broken, "--manifest", synth / "dev.jsonl")
    assert r.exit_code == 2 and "lacks checkpoint.json" in r.output
    shutil.copy(root / "run" / "best" / "checkpoint.json", broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    r = invoke("evaluate", "--checkpoint", broken, "--manifest", synth / "dev.jsonl")
    assert r.exit_code == 2 and "truncated or corrupt" in r.output


def test_cli_reference_is_current(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "cli.md"
    subprocess.run(
        [sys.executable, "-m", "typer", "signdistill.cli", "utils", "docs", "--name", "signdistill", "--output", str(out)],
        check=True,
        capture_output=True,
    )
    doc = Path(__file__).parents[1] / "docs" / "cli.md"
    assert doc.read_text() == out.read_text(), (
        "run: nox -s docs (or typer signdistill.cli utils docs --name signdistill --output docs/cli.md)"
    )


def test_quickstart_refuses_jobs_below_one(tmp_path):
    r = runner.invoke(app, ["quickstart", "--out", str(tmp_path / "qs"), "--jobs", "0"])
    assert r.exit_code == 2 and "--jobs must be >= 1" in r.output
    assert not (tmp_path / "qs").exists()
