"""What a run saves to resume exactly: optimizer, schedule, GradScaler, objective, every RNG, the loop's counters.

:meth:`Trainer.state_dict <signdistill.training.trainer.Trainer.state_dict>` and
:meth:`~signdistill.training.trainer.Trainer.load_state_dict` call these; a checkpoint's
``training_state`` holds the result.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

if TYPE_CHECKING:
    from signdistill.training.trainer import Trainer


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The state of torch's (CPU and CUDA), numpy's and Python's generators, as checkpoint fields."""
    return {
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "rng_numpy": cast(tuple, np.random.get_state())[1].astype(np.int64).tolist(),
        "rng_numpy_pos": int(cast(tuple, np.random.get_state())[2]),
        "rng_python": json.dumps(random.getstate()),
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Put back the generators :func:`rng_state` captured."""
    torch.set_rng_state(state["rng_torch"])
    if state["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    np.random.set_state(("MT19937", np.array(state["rng_numpy"], dtype=np.uint32), state["rng_numpy_pos"], 0, 0.0))
    py = json.loads(state["rng_python"])
    random.setstate((py[0], tuple(py[1]), py[2]))


def trainer_state(t: Trainer) -> dict[str, Any]:
    """The training state of ``t`` (a checkpoint's ``training_state``)."""
    return {
        "optimizer": t.optimizer.state_dict(),
        "scheduler": t.scheduler.state_dict(),
        "scaler": t.scaler.state_dict(),
        "objective": t.objective.state_dict(),
        **rng_state(),
        "epoch": t.epoch,
        "step": t.step,
        "best_wer": t.best_wer,
        "best_epoch": t.best_epoch,
        "bad_epochs": t.bad_epochs,
        "blank_streak": t.blank_streak,
        "first_nonblank_step": t.first_nonblank_step,
        "partial": json.dumps(t.partial),
    }


def load_trainer_state(t: Trainer, state: dict[str, Any]) -> None:
    """Put ``state`` (from :func:`trainer_state`) back into ``t`` and the global RNGs."""
    t.optimizer.load_state_dict(state["optimizer"])
    t.scheduler.load_state_dict(state["scheduler"])
    t.scaler.load_state_dict(state["scaler"])
    t.objective.load_state_dict(state["objective"])
    restore_rng(state)
    for key in ("epoch", "step", "best_wer", "best_epoch", "bad_epochs", "blank_streak"):
        setattr(t, key, state[key])
    t.partial = json.loads(state.get("partial", "null"))
    t.first_nonblank_step = int(state.get("first_nonblank_step", -1))
