"""Faults: SIGKILL at random moments, SIGTERM/SIGINT, failed saves, unwritable run folders."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from signdistill.data.synth import SynthSize, generate
from signdistill.training import load_checkpoint
from tests.conftest import make_run_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    out = tmp_path_factory.mktemp("medium")
    generate(out, seed=1, size=SynthSize(train_signers=3, dev_signers=1, test_signers=1, per_signer=40))
    return out


def _config(tmp: Path, data: Path, name: str, epochs: int = 5) -> Path:
    cfg = make_run_config(tmp / name, data, epochs=epochs, layers=1, hidden=24, threads=1)
    cfg["data"]["batch_size"] = 4
    path = tmp / f"{name.replace('/', '_')}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cmd(cfg: Path) -> list[str]:
    return [sys.executable, "-m", "signdistill", "train-teacher", "--config", str(cfg)]


def _epochs_done(run: Path) -> int:
    f = run / "metrics.jsonl"
    if not f.exists():
        return 0
    return sum('"kind": "epoch"' in line for line in f.read_text(errors="replace").splitlines())


def _weights(path: Path) -> dict:
    return load_checkpoint(path).model.state_dict()


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(medium, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    subprocess.run(_cmd(_config(tmp, medium, "run")), check=True, capture_output=True)
    return _weights(tmp / "run" / "last"), tmp / "run"


def test_sigkill_at_random_points_then_resume_is_bit_identical(medium, reference, tmp_path):
    ref_weights, ref_run = reference
    rng = random.Random(7)
    cfg = _config(tmp_path, medium, "run")
    run = tmp_path / "run"
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(_cmd(cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = _epochs_done(run) + rng.choice([0, 1])
        deadline = time.time() + 60
        while _epochs_done(run) <= target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))  # somewhere inside the next epoch, or inside a save
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1
    done = subprocess.run(_cmd(cfg), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _same(ref_weights, _weights(run / "last"))
    epochs = [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines() if '"kind": "epoch"' in x]
    assert epochs == [1, 2, 3, 4, 5]  # nothing logged twice, nothing missing
    assert not list(run.glob(".*.tmp"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_mid_epoch_and_resume_is_bit_identical(medium, reference, tmp_path, sig):
    ref_weights, _ = reference
    cfg = _config(tmp_path, medium, "run")
    run = tmp_path / "run"
    proc = subprocess.Popen(_cmd(cfg), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while _epochs_done(run) < 1 and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.15)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Run the same command again to resume" in err
    state = torch.load(run / "last" / "training_state.pt", weights_only=True)
    assert json.loads(state["partial"]) is not None or state["epoch"] >= 1
    done = subprocess.run(_cmd(cfg), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _same(ref_weights, _weights(run / "last"))


def test_unwritable_run_dir_fails_before_training(medium, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the run folder's parent should be")
    cfg = _config(tmp_path, medium, "not_a_folder/run")
    r = subprocess.run(_cmd(cfg), capture_output=True, text=True)
    assert r.returncode == 2 and "cannot be written" in " ".join(r.stderr.split()), r.stderr
    assert blocker.read_text().startswith("a file")
    if os.geteuid() != 0:  # permissions only bind non-root users
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        r = subprocess.run(_cmd(_config(tmp_path, medium, "locked/run")), capture_output=True, text=True)
        assert r.returncode == 2 and "cannot be written" in " ".join(r.stderr.split())


def test_disk_full_is_reported_before_training(medium, tmp_path, monkeypatch):
    import shutil

    from signdistill import pipelines
    from signdistill.config import load_config
    from signdistill.errors import SignDistillError

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9, 1000))
    cfg = load_config(None, [], data=make_run_config(tmp_path / "r", medium, epochs=1))
    with pytest.raises(SignDistillError, match="MB free"):
        pipelines.train(cfg)
    assert not (tmp_path / "r" / "last").exists()
