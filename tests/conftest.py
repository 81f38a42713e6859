from __future__ import annotations

from pathlib import Path

import pytest
import torch

from signdistill.data.synth import generate

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Path:
    """The tiny embedded dataset, generated once per test session."""
    out = tmp_path_factory.mktemp("synth")
    generate(out, seed=0, size="tiny")
    return out


def make_run_config(run_dir: Path, data: Path, *, epochs: int = 2, layers: int = 1, hidden: int = 16, **train) -> dict:
    return {
        "seed": 0,
        "run_dir": str(run_dir),
        "data": {"train": str(data / "train.jsonl"), "dev": str(data / "dev.jsonl"), "test": str(data / "test.jsonl"), "batch_size": 8},
        "model": {"layers": layers, "hidden": hidden, "input_proj": hidden, "dropout": 0.1},
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "train": {"epochs": epochs, "progress": False, "tensorboard": False, "collapse_patience": 0, **train},
    }


@pytest.fixture(scope="session")
def trained_teacher(synth, tmp_path_factory) -> Path:
    """A tiny trained checkpoint (2 layers) to distill from."""
    from signdistill import pipelines
    from signdistill.config import load_config

    run = tmp_path_factory.mktemp("teacher") / "run"
    cfg = load_config(None, [], data=make_run_config(run, synth, epochs=2, layers=2, hidden=24))
    pipelines.train(cfg)
    return run / "best"
