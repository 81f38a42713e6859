"""`signdistill compare` and the paired bootstrap behind its verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from signdistill.cli import app
from signdistill.evaluation.stats import paired_difference, utterance_errors, verdict

runner = CliRunner()


# -- the interval method on constructed cases ---------------------------------------------------


def test_identical_systems_are_within_noise():
    rng = np.random.default_rng(0)
    errs = rng.integers(0, 4, size=(3, 400))
    lens = rng.integers(3, 8, size=400)
    d = paired_difference(errs, errs.copy(), lens)
    assert d.mean == 0.0 and d.ci_low <= 0.0 <= d.ci_high
    assert d.verdict == "within noise"


def test_planted_gain_helps_and_planted_loss_hurts():
    rng = np.random.default_rng(1)
    lens = rng.integers(3, 8, size=800)
    base = rng.binomial(lens, 0.30, size=(5, 800))  # about 30 % WER per seed
    better = rng.binomial(lens, 0.25, size=(5, 800))  # about 5 points better
    d = paired_difference(better, base, lens)
    assert -7.0 < d.mean < -3.0
    assert d.ci_high < 0 and d.verdict == "helps"
    assert paired_difference(base, better, lens).verdict == "hurts"


def test_noise_the_size_of_the_effect_is_within_noise():
    """Two systems of equal quality differ by chance; a 1-seed, 30-utterance test must not call it."""
    rng = np.random.default_rng(2)
    lens = rng.integers(3, 8, size=30)
    a = rng.binomial(lens, 0.3, size=(1, 30))
    b = rng.binomial(lens, 0.3, size=(1, 30))
    d = paired_difference(a, b, lens)
    assert d.ci_low < 0 < d.ci_high


def test_seed_spread_widens_the_interval():
    """The same mean difference with a large seed-to-seed spread gives a wider interval."""
    lens = np.full(200, 5)
    base = np.full((4, 200), 2)
    steady = base - np.array([[1], [1], [1], [1]]) * (np.arange(200) % 5 == 0)  # -4 points every seed
    spread = base - np.array([[4], [0], [0], [0]]) * (np.arange(200) % 5 == 0)  # -16, 0, 0, 0
    d1, d2 = paired_difference(steady, base, lens), paired_difference(spread, base, lens)
    assert d1.mean == pytest.approx(d2.mean)
    assert (d2.ci_high - d2.ci_low) > 2 * (d1.ci_high - d1.ci_low)


def test_bootstrap_is_deterministic_and_validates_shapes():
    rng = np.random.default_rng(3)
    a, b, n = rng.integers(0, 3, (2, 50)), rng.integers(0, 3, (2, 50)), rng.integers(2, 6, 50)
    assert paired_difference(a, b, n) == paired_difference(a, b, n)
    with pytest.raises(ValueError, match="shapes do not pair"):
        paired_difference(a, b[:, :40], n)
    with pytest.raises(ValueError, match="level"):
        paired_difference(a, b, n, level=1.5)


def test_utterance_errors_use_sclite_alignment():
    errs, lens = utterance_errors([["A", "B", "C"], ["A"]], [["A", "X"], []])
    assert errs.tolist() == [2, 1] and lens.tolist() == [3, 1]
    assert verdict(-2, -0.1) == "helps" and verdict(0.1, 2) == "hurts" and verdict(-1, 1) == "within noise"


# -- the command, end to end on tiny sizes -------------------------------------------------------


def _config(tmp_path: Path, synth: Path, teacher_ckpt: Path, **extra) -> Path:
    cfg = {
        "out": str(tmp_path / "cmp"),
        "data": {"train": str(synth / "train.jsonl"), "dev": str(synth / "dev.jsonl"), "test": str(synth / "test.jsonl"), "batch_size": 8},
        "teacher": {"checkpoint": str(teacher_ckpt)},
        "student": {"layers": 1, "hidden": 12, "input_proj": 12},
        "recipes": ["ctc", "default"],
        "seeds": 2,
        "epochs": 1,
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "bootstrap": 200,
        **extra,
    }
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_compare_end_to_end_and_resume(tmp_path, synth, trained_teacher, monkeypatch):
    config = _config(tmp_path, synth, trained_teacher)
    res = runner.invoke(app, ["compare", "--config", str(config), "--jobs", "2"])
    assert res.exit_code == 0, res.output
    assert "train: ctc seed 0 ..." in res.output and "train: default seed 1 done" in res.output
    saved = json.loads((tmp_path / "cmp" / "results.json").read_text())
    stuck = {n for n, r in saved["recipes"].items() if r["dev_wer_mean"] >= 90.0}
    assert {w.split(":")[0] for w in saved["warnings"]} - {"teacher"} == stuck  # untrained recipes are flagged, others not
    if stuck:  # and no verdict is claimed about them
        assert all(r["verdict"] == "not meaningful" for n, r in saved["recipes"].items() if n != "ctc")
    results = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert set(results["teacher"]) >= {"dev_wer", "test_wer", "parameters"}
    assert set(results["recipes"]) == {"ctc", "default"}
    for name, r in results["recipes"].items():
        assert len(r["test_wer"]) == 2 and len(r["dev_wer"]) == 2 and r["parameters"] > 0
        assert set(r["paired_test"]) >= {"mean", "ci_low", "ci_high"}
        assert r["verdict"] in ({"baseline"} if name == "ctc" else {"helps", "within noise", "hurts", "not meaningful"})
        assert "gap_recovered" in r
    ctc = results["recipes"]["ctc"]["paired_test"]
    assert ctc["mean"] == 0 and ctc["ci_low"] == 0 and ctc["ci_high"] == 0  # the baseline against itself
    d = results["recipes"]["default"]
    gap = results["recipes"]["ctc"]["test_wer_mean"] - results["teacher"]["test_wer"]
    if gap > 0:
        assert d["gap_recovered"] == pytest.approx((results["recipes"]["ctc"]["test_wer_mean"] - d["test_wer_mean"]) / gap)
    assert (tmp_path / "cmp" / "results.md").read_text().startswith("# signdistill compare")
    # Re-running reuses every finished run: nothing is trained again, the numbers are identical.
    run_file = next((tmp_path / "cmp" / "runs").rglob("compare_run.json"))
    before = run_file.stat().st_mtime_ns
    res2 = runner.invoke(app, ["compare", "--config", str(config), "--jobs", "2"])
    assert res2.exit_code == 0, res2.output
    assert res2.output.count("(reused)") == 4
    assert run_file.stat().st_mtime_ns == before
    again = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert again["recipes"]["default"]["test_wer"] == d["test_wer"]
    assert "contrasts" not in again  # only when asked for
    # Contrasts come from the finished runs (nothing retrains); default against ctc is the table's own row.
    config = _config(tmp_path, synth, trained_teacher, contrasts=[["default", "ctc"], ["ctc", "default"]])
    res3 = runner.invoke(app, ["compare", "--config", str(config), "--jobs", "2"])
    assert res3.exit_code == 0, res3.output
    assert res3.output.count("(reused)") == 4 and "contrasts" in res3.output
    third = json.loads((tmp_path / "cmp" / "results.json").read_text())
    fwd, back = third["contrasts"]
    assert (fwd["recipe"], fwd["reference"]) == ("default", "ctc")
    assert fwd["paired_test"] == d["paired_test"] and fwd["verdict"] == d["verdict"]
    assert back["paired_test"]["mean"] == pytest.approx(-d["paired_test"]["mean"])
    assert list(third)[-3:] == ["seconds", "contrasts", "figures"]  # CompareResults' field order
    assert "## Contrasts" in (tmp_path / "cmp" / "results.md").read_text()
    monkeypatch.chdir(tmp_path)  # the same folder spelled relative: the same runs, reused
    res4 = runner.invoke(app, ["compare", "--config", str(config), "--jobs", "2", "--out", "./cmp"])
    assert res4.exit_code == 0 and res4.output.count("(reused)") == 4, res4.output


def test_compare_tuning_grid_is_applied_to_every_recipe(tmp_path, synth, trained_teacher):
    from signdistill.config import CompareConfig, load_config
    from signdistill.pipelines.compare import plan

    tune = {"optim.lr": [1e-3, 1e-2], "model.output_bias": ["zero", "prior"]}
    config = _config(tmp_path, synth, trained_teacher, tune=tune, recipes=["ctc", "frame-kl"])
    cfg = load_config(config, [], CompareConfig)
    p = plan(cfg, tmp_path / "cmp")
    assert len(p.jobs) == 2 * 2 * 4  # recipes x seeds x points
    points = {(j.recipe, j.seed, j.config["optim"]["lr"], j.config["model"]["output_bias"]) for j in p.jobs}
    assert len(points) == len(p.jobs)  # every run has its own point (no settings shared between runs)
    assert all(j.config["train"]["threads"] == 1 for j in p.jobs)
    assert all(("distill" in j.config) == (j.recipe != "ctc") for j in p.jobs)


def test_list_recipes():
    res = runner.invoke(app, ["compare", "--list-recipes"])
    assert res.exit_code == 0
    for name in ("ctc", "default", "plan", "frame-kl", "sequence"):
        assert f"\n{name} " in "\n" + res.output
    assert "Name them in a comparison config" in res.output  # and how to use them


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"recipes": ["ctc", "defualt"]}, "recipes[1]: unknown recipe 'defualt'. Did you mean 'default'"),
        ({"seeds": 0}, "seeds: must be >= 1 (got 0)"),
        ({"teacher": {"model": {"layers": 1, "hidden": 8}, "seed": -1}}, "teacher.seed"),
        ({"recipes": []}, "recipes"),
        ({"tune": {"optim.lrr": [1e-3]}}, "optim.lrr"),
        ({"tune": {"seed": [1, 2]}}, "only training settings can be tuned"),
        ({"tune": {"model.hidden": [16, 32]}}, "never the student's size"),
        ({"recipes": ["ctc", "frame-kl", {"name": "Frame KL", "base": "frame-kl"}]}, "would share the run folder"),
        ({"recipes": ["ctc", {"name": "x", "distill": {"loss": {"kl": -1, "ctc": 1}}}]}, "kl"),
        ({"teacher": {"checkpoint": "/nonexistent/best"}}, "not a checkpoint folder"),
        (
            {"teacher": {"model": {"layers": 1, "hidden": 8}, "optim": {"lrr": 1e-3}}},
            "teacher.optim: unknown field 'lrr' (did you mean 'lr'?)",
        ),
        (
            {"teacher": {"model": {"layers": 1, "hidden": 8}, "optim": {"lr": -1}}},
            "teacher.optim: lr: Input should be greater than 0 (got -1)",
        ),
        ({"lm": {"path": __file__}}, "ARPA"),
        ({"contrasts": [["default", "defualt"]]}, "configuration: contrasts[0]: 'defualt' is not a recipe of this comparison"),
        ({"contrasts": [["default", "default"]]}, "contrasts[0]: a recipe against itself"),
        ({"contrasts": [["default"]]}, "contrasts: entry 0 must be a pair [recipe, reference] of recipe names (got ['default'])"),
        ({"contrasts": ["default", "ctc"]}, "contrasts: entry 0 must be a pair [recipe, reference]"),
        ({"contrasts": [["default", "ctc"], ["default", "ctc"]]}, "contrasts: [default, ctc] is listed twice"),
    ],
)
def test_bad_compare_configs_exit_2(tmp_path, synth, trained_teacher, extra, message):
    config = _config(tmp_path, synth, trained_teacher, **extra)
    res = runner.invoke(app, ["compare", "--config", str(config)])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert not (tmp_path / "cmp").exists()  # nothing was written


def test_a_misspelled_recipe_is_named_before_missing_data(tmp_path, synth, trained_teacher):
    config = _config(tmp_path, synth, trained_teacher, recipes=["ctc", {"name": "mine", "base": "fitnet"}])
    cfg = yaml.safe_load(config.read_text())
    cfg["data"]["train"] = str(tmp_path / "not-made-yet" / "train.jsonl")
    config.write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["compare", "--config", str(config)])
    assert res.exit_code == 2 and "recipes[1].base: unknown recipe 'fitnet'. Did you mean 'fitnets'?" in " ".join(res.output.split())


def test_compare_refuses_a_foreign_out_folder(tmp_path, synth, trained_teacher):
    foreign = tmp_path / "cmp"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    res = runner.invoke(app, ["compare", "--config", str(_config(tmp_path, synth, trained_teacher))])
    assert res.exit_code == 2 and "not a comparison" in " ".join(res.output.split())
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]
    assert (foreign / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize(
    "name",
    ["compare_2p5x.yaml", "compare_15x.yaml", "compare_small.yaml", "compare_plan_ratio.yaml", "compare_gap.yaml"]
    + [f"compare_unlabeled{x}.yaml" for x in ("", "_same", "_x4", "_15x", "_distinct", "_weather", "_distinct_15x", "_weather_15x")]
    + [
        "compare_patient.yaml",
        "compare_patient_unlabeled.yaml",
        "compare_int8.yaml",
        "compare_int8_15x.yaml",
        "compare_unlabeled_conf.yaml",
    ]
    + ["compare_stride2.yaml", "compare_stride4.yaml", "compare_stride4_teacher4.yaml"],
)
def test_example_compare_configs_validate_and_plan(name, tmp_path):
    """The shipped comparison configs validate and plan every run (nothing is trained here)."""
    from signdistill.config import CompareConfig, load_config
    from signdistill.pipelines.compare import plan

    path = Path(__file__).parents[1] / "examples" / "configs" / name
    cfg = load_config(path, [], CompareConfig)
    p = plan(cfg, tmp_path / "out")
    assert p.teacher_job is not None and len(p.jobs) == len(cfg.seed_list()) * len(cfg.recipes)
    header = "\n".join(line for line in path.read_text().splitlines() if line.startswith("#"))
    out = f"--out {Path(cfg.data.train).parent.as_posix()}"
    made = [line for line in header.splitlines() if "signdistill data synth" in line and out in line]
    assert made, f"{name}: its comments should say how to make its data (signdistill data synth {out} ...); compare's error points there"
    if cfg.data.unlabeled is not None:
        assert "--unlabeled" in made[0], name


def test_the_teacher_trains_with_its_own_optim_settings(tmp_path, synth, trained_teacher):
    """teacher.optim overrides the comparison's optim for the teacher only; students keep theirs."""
    from signdistill.config import CompareConfig, load_config
    from signdistill.pipelines.compare import plan

    teacher = {"model": {"layers": 1, "hidden": 8, "input_proj": 8}, "epochs": 1, "optim": {"lr": 3.0e-3}}
    config = _config(tmp_path, synth, trained_teacher, teacher=teacher, optim={"lr": 1.0e-2, "warmup_steps": 7})
    p = plan(load_config(config, [], CompareConfig), tmp_path / "out")
    assert p.teacher_job is not None
    assert p.teacher_job.config["optim"]["lr"] == 3.0e-3
    assert p.teacher_job.config["optim"]["warmup_steps"] == 7  # the rest comes from the comparison's optim
    assert {j.config["optim"]["lr"] for j in p.jobs} == {1.0e-2}
    # The teacher's saved settings (as its run writes them) are reused as they are, and a changed
    # teacher.optim is refused rather than silently mixed with the finished teacher.
    from signdistill.config import RunConfig, dump_config
    from signdistill.errors import ConfigError

    saved = Path(p.teacher_job.config["run_dir"]) / "config.yaml"
    saved.parent.mkdir(parents=True)
    saved.write_text(dump_config(load_config(None, [], RunConfig, data=p.teacher_job.config)))
    assert plan(load_config(config, [], CompareConfig), tmp_path / "out").teacher_job.config["optim"]["lr"] == 3.0e-3
    with pytest.raises(ConfigError, match=r"holds a run with other settings .*\(teacher: optim.lr differ\)"):
        plan(load_config(config, ["teacher.optim.lr=1e-3"], CompareConfig), tmp_path / "out")
    bad = _config(tmp_path, synth, trained_teacher, teacher={"checkpoint": str(trained_teacher), "optim": {"lr": 1e-3}})
    res = runner.invoke(app, ["compare", "--config", str(bad)])
    assert res.exit_code == 2 and "teacher.optim applies to a teacher that `compare` trains" in " ".join(res.output.split())


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "benchmarks").glob("*.yaml")), ids=lambda p: p.name)
def test_benchmark_compare_configs_validate(path):
    """The sweeps quoted in docs/benchmarks.md still validate (their teachers are trained elsewhere)."""
    from signdistill.config import CompareConfig, load_config

    cfg = load_config(path, [], CompareConfig)
    assert cfg.seed_list() and cfg.recipes


def _die(job):  # runs in a spawned worker
    import os

    os._exit(9)


def _sleep_and_record(job):  # runs in a spawned worker
    import os
    import time
    from pathlib import Path

    Path(job.config["pidfile"]).write_text(str(os.getpid()))
    time.sleep(30)
    return {}


def test_sigterm_stops_the_workers_not_only_compare(tmp_path, capfd):
    """`kill <compare>` must not leave its runs training on as orphans."""
    import os
    import signal
    import threading
    import time

    from signdistill.pipelines.executor import Job, run_all

    pidfile = tmp_path / "worker.pid"

    def term_when_started():
        for _ in range(600):
            if pidfile.is_file() and pidfile.read_text():
                break
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    # A handler that ignores SIGTERM stands in for "the process would just die": without compare's own
    # handler the run would go on (and this test fail after the worker's sleep), never kill pytest.
    ignored: list[int] = []

    def sentinel(signum, frame):
        ignored.append(signum)

    original = signal.signal(signal.SIGTERM, sentinel)
    try:
        threading.Thread(target=term_when_started, daemon=True).start()
        t0 = time.time()
        with pytest.raises(SystemExit) as exc:
            run_all(_sleep_and_record, [Job("ctc seed 0", "ctc", 0, 0, {"pidfile": str(pidfile)}, False)], 1, None, "train")
        assert exc.value.code == 128 + signal.SIGTERM and time.time() - t0 < 25 and not ignored
        pid = int(pidfile.read_text())
        with pytest.raises(ProcessLookupError):  # the worker is gone (terminated and reaped), not training on
            os.kill(pid, 0)
        assert signal.getsignal(signal.SIGTERM) is sentinel  # compare's handler only while its runs go
        assert "stopped by SIGTERM, its runs too; run the same command again to resume" in capfd.readouterr().err
    finally:
        signal.signal(signal.SIGTERM, original)


def test_ctrl_c_says_how_to_resume(capfd, monkeypatch):
    import signdistill.pipelines.executor as executor

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(executor, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        executor.run_all(
            _sleep_and_record, [executor.Job("ctc seed 0", "ctc", 0, 0, {"pidfile": "/nonexistent/pid"}, False)], 1, None, "train"
        )
    assert "compare: stopped by Ctrl-C, its runs too; run the same command again to resume" in capfd.readouterr().err


def test_a_worker_that_dies_is_named_not_a_traceback():
    from signdistill.errors import SignDistillError
    from signdistill.pipelines.executor import Job, run_all

    job = Job("ctc seed 0", "ctc", 0, 0, {}, False)
    with pytest.raises(SignDistillError, match="process died .* while running 'ctc seed 0'"):
        run_all(_die, [job], 1, None, "train")
    # With several in flight, every one of them is named (which one died is not knowable).
    jobs = [Job(f"ctc seed {k}", "ctc", k, 0, {}, False) for k in range(2)]
    with pytest.raises(SignDistillError, match="'ctc seed 0', 'ctc seed 1'"):
        run_all(_die, jobs, 2, None, "train")


def _local_copy(synth: Path, dest: Path) -> Path:
    """The tiny dataset's manifests, copied with absolute feature paths (so they can be edited)."""
    dest.mkdir()
    for split in ("train", "dev", "test"):
        lines = []
        for line in (synth / f"{split}.jsonl").read_text().splitlines():
            u = json.loads(line)
            u["features"] = str((synth / u["features"]).resolve())
            lines.append(json.dumps(u))
        (dest / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return dest


def test_changed_inputs_at_the_same_path_are_refused_not_reused(tmp_path, synth, trained_teacher):
    data = _local_copy(synth, tmp_path / "data")
    config = _config(tmp_path, data, trained_teacher, recipes=["ctc"], seeds=1)
    assert runner.invoke(app, ["compare", "--config", str(config)]).exit_code == 0
    lines = (data / "test.jsonl").read_text().splitlines()
    (data / "test.jsonl").write_text("\n".join(reversed(lines)) + "\n")  # same ids, another file
    res = runner.invoke(app, ["compare", "--config", str(config)])
    assert res.exit_code == 2, res.output
    assert "made with other inputs" in " ".join(res.output.split()) and "data.test" in res.output


def test_two_comparisons_never_share_an_out_folder(tmp_path, synth, trained_teacher):
    import fcntl

    config = _config(tmp_path, synth, trained_teacher, recipes=["ctc"], seeds=1)
    out = tmp_path / "cmp"
    out.mkdir()
    (out / ".signdistill-compare.json").write_text("{}")
    with open(out / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = runner.invoke(app, ["compare", "--config", str(config)])
    assert res.exit_code == 2 and "another comparison is running" in " ".join(res.output.split())
    assert not (out / "runs").exists()


def test_untrained_models_are_flagged_not_compared(tmp_path):
    """All-blank models agree perfectly (every interval [0, 0]): the table must say they learned nothing."""
    from signdistill.pipelines.compare import results_markdown

    r = {"parameters": 10, "dev_wer_mean": 100.0, "dev_wer_std": 0.0, "test_wer_mean": 100.0, "test_wer_std": 0.0}
    pd = {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    results = {
        "seeds": [0],
        "epochs": 1,
        "confidence": 0.95,
        "test_utterances": 3,
        "test_reference_glosses": 9,
        "teacher": {"parameters": 20, "dev_wer": 100.0, "test_wer": 100.0},
        "recipes": {
            "ctc": {**r, "gap_recovered": None, "verdict": "baseline", "consistent": False},
            "default": {**r, "paired_test": pd, "gap_recovered": None, "verdict": "within noise", "consistent": False},
        },
    }
    results["warnings"] = ["ctc: mean dev WER 100.0 %: these models did not learn"]
    md = results_markdown(results)
    assert "**Warning:** ctc: mean dev WER 100.0 %" in md
    assert "| default | 10 | 100.00 ± 0.00 | 100.00 ± 0.00 | +0.00 [+0.00, +0.00] | n/a: teacher no better |" in md


def test_a_missing_manifest_is_named_before_anything_trains(tmp_path, synth, trained_teacher):
    config = _config(tmp_path, synth, trained_teacher)
    cfg = yaml.safe_load(config.read_text())
    cfg["data"]["dev"] = str(tmp_path / "nope.jsonl")
    config.write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["compare", "--config", str(config)])
    assert res.exit_code == 2, res.output
    assert "data.dev" in res.output and "nope.jsonl" in " ".join(res.output.split())
    assert "train:" not in res.output and not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("case", ["missing", "bad line", "a test recording", "a missing feature file", "wrong width", "a folder"])
def test_a_bad_unlabeled_manifest_is_named_before_anything_trains(tmp_path, synth, trained_teacher, case):
    """data.unlabeled is read before the teacher and the CTC-only runs train, not when the first distilled run starts."""
    unlabeled = tmp_path / "unlabeled.jsonl"
    test_line = (synth / "test.jsonl").read_text().splitlines()[0]
    if case == "bad line":
        unlabeled.write_text(test_line.replace('"test-', '"other-') + "\n{not json\n")
    elif case == "a test recording":
        entry = json.loads(test_line)
        entry["id"] = "renamed"
        entry["features"] = str((synth / entry["features"]).resolve())
        unlabeled.write_text(json.dumps(entry) + "\n")
    elif case == "a missing feature file":
        unlabeled.write_text('{"id": "ghost", "features": "features/ghost.npy"}\n')
    elif case == "wrong width":
        np.save(tmp_path / "narrow.npy", np.zeros((20, 7), dtype=np.float32))
        unlabeled.write_text('{"id": "narrow", "features": "narrow.npy"}\n')
    elif case == "a folder":
        unlabeled.mkdir()
    config = _config(tmp_path, synth, trained_teacher, teacher={"model": {"layers": 1, "hidden": 8, "input_proj": 8}, "epochs": 1})
    cfg = yaml.safe_load(config.read_text())
    cfg["data"]["unlabeled"] = str(unlabeled)
    config.write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["compare", "--config", str(config)])
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and "data.unlabeled" in out and "unlabeled.jsonl" in out, res.output
    expected = {
        "missing": "data synth --out DIR --unlabeled N",
        "bad line": "line 2",
        "a test recording": "data.test",
        "a missing feature file": "ghost.npy (utterance",
        "wrong width": "7 dimensions",
        "a folder": "is a folder",
    }
    assert expected[case] in out, out
    assert "Traceback" not in res.output and "train:" not in res.output and not (tmp_path / "cmp").exists()
