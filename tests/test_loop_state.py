"""The Trainer's counters as one value (LoopState), and the training state format of runs saved before it."""

import json

import torch

from signdistill.training.state import LoopState
from tests.conftest import make_run_config

# The keys of a checkpoint's training_state as every run so far saved them (signdistill 0.2 and earlier).
SAVED_KEYS = {
    "optimizer", "scheduler", "scaler", "objective",
    "rng_torch", "rng_cuda", "rng_numpy", "rng_numpy_pos", "rng_python",
    "epoch", "step", "best_wer", "best_epoch", "bad_epochs", "blank_streak", "first_nonblank_step", "partial",
}  # fmt: skip
PARTIAL = {"batch": 6, "sums": {"total": 12.5, "ctc": 12.5}, "count": 6, "skipped": 1, "frames": 1234}
COUNTERS = {"epoch": 3, "step": 41, "best_wer": 37.5, "best_epoch": 2, "bad_epochs": 1, "blank_streak": 0, "first_nonblank_step": 30}


def test_counters_saved_before_loopstate_load_and_save_unchanged(tmp_path):
    saved = {**COUNTERS, "partial": json.dumps(PARTIAL)}  # how trainer_state() wrote them
    torch.save(saved, tmp_path / "state.pt")
    loop = LoopState.from_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert (loop.epoch, loop.step, loop.best_wer, loop.best_epoch, loop.bad_epochs, loop.blank_streak) == (3, 41, 37.5, 2, 1, 0)
    assert loop.first_nonblank_step == 30 and loop.first_nonblank == 30 and loop.partial == PARTIAL and loop.history == []
    assert loop.to_dict() == saved


def test_oldest_format_without_partial_or_first_nonblank_step():
    old = {k: v for k, v in COUNTERS.items() if k != "first_nonblank_step"}
    loop = LoopState.from_dict(old)
    assert loop.partial is None and loop.first_nonblank_step == -1 and loop.first_nonblank is None
    assert LoopState().to_dict() == {
        "epoch": 0, "step": 0, "best_wer": float("inf"), "best_epoch": 0, "bad_epochs": 0, "blank_streak": 0,
        "first_nonblank_step": -1, "partial": "null",
    }  # fmt: skip


def test_trainer_state_keeps_the_saved_format_and_loads_an_old_one(synth, tmp_path):
    from signdistill import pipelines
    from signdistill.config import load_config
    from signdistill.models import build_model
    from signdistill.training import CTCObjective, Trainer

    cfg = load_config(None, [], data=make_run_config(tmp_path / "run", synth, epochs=1))
    splits = pipelines.load_splits(cfg)
    model = build_model(36, len(splits.vocab), **cfg.model.build_kwargs())
    trainer = Trainer(model, CTCObjective(), splits.train, splits.dev, cfg, splits.vocab, splits.normalizer)
    state = trainer.state_dict()
    assert set(state) == SAVED_KEYS and state["partial"] == "null" and state["best_wer"] == float("inf")
    old = {**state, **COUNTERS, "partial": json.dumps(PARTIAL)}  # a run saved mid-epoch before LoopState existed
    torch.save(old, tmp_path / "training_state.pt")
    trainer.loop.history.append({"epoch": 1})
    trainer.load_state_dict(torch.load(tmp_path / "training_state.pt", weights_only=True))
    assert trainer.loop.partial == PARTIAL and trainer.loop.step == 41 and trainer.loop.history == [{"epoch": 1}]
    assert {k: trainer.state_dict()[k] for k in COUNTERS} == COUNTERS
