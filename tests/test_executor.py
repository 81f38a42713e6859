"""compare's engines without a cluster: `local` and submitit's local executor give the same results,
a killed job resumes, cancellation stops every job, a missing submitit names the extra, and the
SLURM submission (sbatch script, dependencies, arrays) is built as intended, though no scheduler runs it."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from signdistill.cli import app

runner = CliRunner()
submitit = pytest.importorskip("submitit")

from tests.test_compare import _config  # noqa: E402 - the same tiny comparison


def _without_timings(obj, out: str):
    """results.json with its timing fields dropped and its own folder written as OUT."""
    if isinstance(obj, dict):
        return {k: _without_timings(v, out) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [_without_timings(v, out) for v in obj]
    return obj.replace(out, "OUT") if isinstance(obj, str) else obj


def test_local_and_submitit_local_give_the_same_results(tmp_path, synth, trained_teacher):
    config = _config(tmp_path, synth, trained_teacher)
    results = {}
    for kind in ("local", "submitit-local"):
        out = tmp_path / kind
        res = runner.invoke(app, ["compare", "-c", str(config), "--executor", kind, "--jobs", "2", "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "train: default seed 1 done" in res.output
        results[kind] = _without_timings(json.loads((out / "results.json").read_text()), str(out))
    assert results["local"] == results["submitit-local"]
    assert len(results["local"]["recipes"]["default"]["test_wer"]) == 2
    jobs = json.loads((tmp_path / "submitit-local" / "submitit" / "jobs.json").read_text())
    assert len(jobs) == 4  # one submitit job per (recipe, seed)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.is_file() else []


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.is_file() and stat.read_text().split(")")[-1].split()[0] == "Z"  # a zombie is not running


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the job's process through /proc")
def test_a_job_killed_with_sigkill_resumes_when_compare_is_rerun(tmp_path, synth, trained_teacher):
    from signdistill.config import CompareConfig, load_config
    from signdistill.errors import SignDistillError
    from signdistill.pipelines.compare import compare

    config = _config(tmp_path, synth, trained_teacher, recipes=["ctc"], seeds=1, epochs=15)
    cfg = load_config(config, ["executor.kind=submitit-local"], CompareConfig)
    run_dir = tmp_path / "cmp" / "runs" / "ctc" / "seed0"
    failure: list[BaseException] = []

    def drive():
        try:
            compare(cfg, jobs=1)
        except BaseException as exc:  # noqa: BLE001 - looked at below
            failure.append(exc)

    driver = threading.Thread(target=drive)
    driver.start()
    deadline = time.time() + 120
    while not (run_dir / "last").is_dir() and time.time() < deadline:  # the end of epoch 1 is saved
        time.sleep(0.05)
    assert (run_dir / "last").is_dir(), "the job never saved a checkpoint"
    (controller,) = [int(j) for j in json.loads((tmp_path / "cmp" / "submitit" / "jobs.json").read_text()).values()]
    (task,) = _children(controller)
    os.kill(task, signal.SIGKILL)
    driver.join(60)
    assert not driver.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], SignDistillError), failure
    assert "ended without a result" in str(failure[0]) and "run the same command again" in str(failure[0])
    assert not (run_dir / "compare_run.json").exists()
    epochs_before = [r["epoch"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r.get("kind") == "epoch"]
    assert epochs_before and epochs_before[-1] < 15
    first = (run_dir / "metrics.jsonl").read_text().splitlines()[0]

    results = compare(load_config(config, ["executor.kind=submitit-local"], CompareConfig), jobs=1)
    assert results.recipes["ctc"]["test_wer"]
    records = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert records[0] == first  # the records up to the checkpoint are kept, not rewritten by a fresh start
    epochs = [r["epoch"] for r in map(json.loads, records) if r.get("kind") == "epoch"]
    assert epochs == sorted(set(epochs)) and epochs[-1] == 15  # every epoch once: it went on from last/


def test_detach_then_collect(tmp_path, synth, trained_teacher):
    """--detach returns once submitted; the next compare waits for the running job instead of submitting it again."""
    config = _config(tmp_path, synth, trained_teacher, recipes=["ctc"], seeds=1)
    res = runner.invoke(app, ["compare", "-c", str(config), "--executor", "submitit-local", "--detach"])
    assert res.exit_code == 0, res.output
    assert "submitted 1 jobs" in res.output and "without --detach" in " ".join(res.output.split())
    assert not (tmp_path / "cmp" / "results.json").exists()
    res = runner.invoke(app, ["compare", "-c", str(config), "--executor", "submitit-local"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "cmp" / "results.json").read_text())["recipes"]["ctc"]["test_wer"]
    jobs = [p for p in (tmp_path / "cmp" / "submitit").iterdir() if p.name.isdigit()]
    assert len(jobs) == 1  # collected, not submitted twice


def _sleep_and_record(job):  # runs in a submitit job
    Path(job.config["pidfile"]).write_text(str(os.getpid()))
    time.sleep(60)
    return {}


def test_cancellation_stops_every_job(tmp_path, capfd):
    """SIGTERM to the driver cancels every job it submitted, and their processes end."""
    import cloudpickle

    from signdistill.config.compare import CompareExecutor
    from signdistill.pipelines.executor import Job, Task, run_tasks
    from signdistill.pipelines.executor_submitit import SubmititEngine

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the jobs cannot import this test module
    pidfiles = [tmp_path / f"job{k}.pid" for k in range(2)]
    tasks = [
        Task(
            str(k),
            _sleep_and_record,
            Job(f"ctc seed {k}", "ctc", k, 0, {"pidfile": str(p), "run_dir": str(tmp_path / str(k))}, False),
            "train",
        )
        for k, p in enumerate(pidfiles)
    ]
    engine = SubmititEngine(CompareExecutor(kind="submitit-local"), tmp_path / "submitit", workers=2)

    def term_when_started():
        deadline = time.time() + 60
        while not all(p.is_file() and p.read_text() for p in pidfiles) and time.time() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    original = signal.getsignal(signal.SIGTERM)
    try:
        threading.Thread(target=term_when_started, daemon=True).start()
        t0 = time.time()
        with pytest.raises(SystemExit) as exc:
            run_tasks(tasks, 2, None, engine)
        assert exc.value.code == 128 + signal.SIGTERM and time.time() - t0 < 50
    finally:
        signal.signal(signal.SIGTERM, original)
    controllers = [int(j) for j in json.loads((tmp_path / "submitit" / "jobs.json").read_text()).values()]
    assert len(controllers) == 2
    for pid in [int(p.read_text()) for p in pidfiles] + controllers:
        deadline = time.time() + 30  # a cancelled process ends within moments; on a loaded machine, give it some
        while not _gone(pid) and time.time() < deadline:
            time.sleep(0.1)
        assert _gone(pid), f"process {pid} still runs 30 s after the cancellation"
    assert "stopped by SIGTERM, its runs too; run the same command again to resume" in capfd.readouterr().err


def test_a_missing_submitit_names_the_extra(tmp_path, synth, trained_teacher, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # `import submitit` now raises ImportError
    config = _config(tmp_path, synth, trained_teacher)
    for kind in ("slurm", "submitit-local"):
        res = runner.invoke(app, ["compare", "-c", str(config), "--executor", kind])
        assert res.exit_code == 2, res.output
        assert "pip install 'signdistill[slurm]'" in " ".join(res.output.split()) and "Traceback" not in res.output
    assert not (tmp_path / "cmp").exists()  # nothing was written


def test_detach_needs_a_submitit_executor(tmp_path, synth, trained_teacher):
    res = runner.invoke(app, ["compare", "-c", str(_config(tmp_path, synth, trained_teacher)), "--detach"])
    assert res.exit_code == 2 and "--detach needs" in " ".join(res.output.split())
    res = runner.invoke(app, ["compare", "-c", str(_config(tmp_path, synth, trained_teacher)), "--executor", "pbs"])
    assert res.exit_code == 2 and "submitit-local" in res.output


def test_the_slurm_submission_is_a_job_array_after_the_teacher(tmp_path, monkeypatch):
    """No scheduler here: the sbatch script submitit would submit is checked instead."""
    from signdistill.config.compare import CompareExecutor
    from signdistill.errors import SignDistillError
    from signdistill.pipelines.executor_submitit import SubmititEngine

    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(SignDistillError, match="needs SLURM's srun and sbatch"):
        SubmititEngine(CompareExecutor(kind="slurm"), tmp_path / "submitit", workers=1)
    (tmp_path / "bin").mkdir()
    for command in ("srun", "sbatch"):  # stand-ins that are never run
        (tmp_path / "bin" / command).write_text("#!/bin/sh\nexit 1\n")
        (tmp_path / "bin" / command).chmod(0o755)

    spec = CompareExecutor(kind="slurm", partition="gpu", account="lab", gpus_per_job=1, cpus_per_job=4, time_min=600, array_parallelism=8)
    engine = SubmititEngine(spec, tmp_path / "submitit", workers=1)
    assert engine.chains and engine.capacity is None

    class Teacher:
        job_id = "4242"

    ex = engine._executor([Teacher()])
    script = ex._executor._make_submission_file_text("python -m submitit.core._submit X", "uid")
    for line in ("--partition=gpu", "--account=lab", "--gpus-per-node=1", "--cpus-per-task=4", "--time=600", "--dependency=afterok:4242"):
        assert f"#SBATCH {line}" in script, script
    params = ex._executor.parameters
    assert params["array_parallelism"] == 8
    assert "dependency" not in engine._executor([])._executor.parameters  # the CTC-only runs wait for nothing
