"""torchrun + DistributedDataParallel on CPU (gloo): equal to one process with the same global batch."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from signdistill.training import load_checkpoint
from tests.conftest import make_run_config

pytestmark = pytest.mark.slow


def _cfg(tmp: Path, synth: Path, name: str, batch: int, epochs: int = 8) -> Path:
    c = make_run_config(tmp / name, synth, epochs=epochs, layers=1, hidden=16, threads=1)
    c["model"]["dropout"] = 0.0  # dropout masks are per-process; without them the runs must agree
    c["data"]["batch_size"] = batch
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(c))
    return p


def _torchrun(cfg: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "signdistill",
        "train-teacher",
        "--config",
        str(cfg),
    ]


def _max_diff(a: Path, b: Path) -> float:
    x, y = load_checkpoint(a).model.state_dict(), load_checkpoint(b).model.state_dict()
    return max(float((x[k] - y[k]).abs().max()) for k in x)


@pytest.fixture(scope="module")
def single(synth, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("single")
    subprocess.run(
        [sys.executable, "-m", "signdistill", "train-teacher", "--config", str(_cfg(tmp, synth, "run", 8))], check=True, capture_output=True
    )
    return tmp / "run"


def test_two_processes_match_one_with_the_same_global_batch(synth, single, tmp_path):
    r = subprocess.run(_torchrun(_cfg(tmp_path, synth, "ddp", 4)), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _max_diff(single / "last", tmp_path / "ddp" / "last") < 1e-5  # gloo sums in another order
    metrics = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert sum('"kind": "epoch"' in m for m in metrics) == 8  # rank 0 alone writes


def test_ddp_resumes_after_sigterm(synth, single, tmp_path):
    cfg = _cfg(tmp_path, synth, "ddp", 4)
    run = tmp_path / "ddp"
    proc = subprocess.Popen(_torchrun(cfg), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "last").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode != 0  # it was stopped, not finished
    assert (run / "last" / "training_state.pt").exists()
    r = subprocess.run(_torchrun(cfg), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _max_diff(single / "last", run / "last") < 1e-5
    assert torch.load(run / "last" / "training_state.pt", weights_only=True)["epoch"] == 8
