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


def _nan_on_rank1(bad_call: int):
    """A CTC objective whose loss is NaN on rank 1's ``bad_call``-th micro-batch (0-based); finite elsewhere."""
    import torch.distributed as dist

    from signdistill.training import CTCObjective

    class NaNOnRank1(CTCObjective):
        calls = 0

        def forward(self, model, batch):
            out = super().forward(model, batch)
            call, self.calls = self.calls, self.calls + 1
            if dist.get_rank() == 1 and call == bad_call:
                return type(out)(out.total * float("nan"), {k: float("nan") for k in out.parts})
            return out

    return NaNOnRank1()


def _nan_worker(rank: int, port: int, cfg_data: dict, bad_call: int, out: str) -> None:
    import os

    from signdistill import pipelines
    from signdistill.config import load_config
    from signdistill.training import Trainer
    from signdistill.training.trainer import seed_everything

    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2"})
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    cfg = load_config(None, [], data=cfg_data)
    splits = pipelines.load_splits(cfg)
    seed_everything(cfg.seed)
    model = pipelines.build_student_model(cfg, splits)
    trainer = Trainer(model, _nan_on_rank1(bad_call), splits.train, splits.dev, cfg, splits.vocab, splits.normalizer)
    result = trainer.fit(resume=False)
    torch.save({"state": model.state_dict(), "skipped": result.history[-1]["train/skipped_batches"]}, f"{out}/rank{rank}.pt")


def test_non_finite_loss_on_one_rank_is_skipped_on_every_rank(synth, tmp_path):
    """Under accumulation a NaN on one rank's last micro-batch of a step must not leave the other rank
    waiting in DDP's gradient all-reduce: every rank skips that micro-batch, and the ranks stay equal."""
    import multiprocessing
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = make_run_config(tmp_path / "run", synth, epochs=1, layers=1, hidden=16, threads=1)
    c["model"]["dropout"] = 0.0
    c["data"]["batch_size"] = 4
    c["optim"]["accumulate"] = 2
    ctx = multiprocessing.get_context("spawn")
    # call 1 is the second micro-batch of the first step: the one whose backward synchronizes.
    procs = [ctx.Process(target=_nan_worker, args=(r, port, c, 1, str(tmp_path))) for r in range(2)]
    for p in procs:
        p.start()
    deadline = time.time() + 180
    for p in procs:
        p.join(max(deadline - time.time(), 1))
    hung = [p.pid for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    assert not hung, "a rank waited forever for the one that skipped its backward"
    assert [p.exitcode for p in procs] == [0, 0]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2))
    assert max(float((r0["state"][k] - r1["state"][k]).abs().max()) for k in r0["state"]) == 0.0
    assert r0["skipped"] == r1["skipped"] == 1  # one global batch skipped, counted once
