"""What a run saves to resume exactly: the loop's counters (:class:`LoopState`), optimizer, schedule,
GradScaler, objective and every RNG.

:meth:`Trainer.state_dict <signdistill.training.trainer.Trainer.state_dict>` and
:meth:`~signdistill.training.trainer.Trainer.load_state_dict` call :func:`training_state` and
:func:`restore_training_state`; a checkpoint's ``training_state`` holds the result. This module
knows nothing of the Trainer: it takes the stateful parts by name and the counters as one value.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np
import torch

COUNTERS = ("epoch", "step", "best_wer", "best_epoch", "bad_epochs", "blank_streak")


class Stateful(Protocol):
    """An optimizer, scheduler, GradScaler or module: whatever has ``state_dict``/``load_state_dict``."""

    def state_dict(self) -> Any: ...
    def load_state_dict(self, state: Any, /) -> Any: ...


@dataclass
class LoopState:
    """The Trainer's counters, one value: where the loop is and how it has gone so far.

    ``to_dict``/``from_dict`` are its fields of a checkpoint's ``training_state`` (the format of
    every run saved before this class existed); ``history`` is not saved there: a resume rebuilds
    it from ``metrics.jsonl``.
    """

    epoch: int = 0  # the epoch under way (or last finished); 0 before the first
    step: int = 0  # optimizer steps taken
    best_wer: float = float("inf")
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs since dev WER last improved (early stopping)
    blank_streak: int = 0  # epochs in a row whose dev set decodes mostly to blank (collapse guard)
    first_nonblank_step: int = -1  # first optimizer step whose batch decodes 10 % of its glosses (-1: not yet)
    partial: dict[str, Any] | None = None  # position inside an interrupted epoch: batch, sums, count, skipped, frames
    history: list[dict[str, Any]] = field(default_factory=list)  # the epochs' metrics

    @property
    def first_nonblank(self) -> int | None:
        """:attr:`first_nonblank_step`, None until there is one."""
        return self.first_nonblank_step if self.first_nonblank_step >= 0 else None

    def to_dict(self) -> dict[str, Any]:
        """The counters as checkpoint fields (``partial`` as JSON text)."""
        return {
            **{key: getattr(self, key) for key in COUNTERS},
            "first_nonblank_step": self.first_nonblank_step,
            "partial": json.dumps(self.partial),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> LoopState:
        """The counters of a checkpoint's ``training_state`` (older ones lack ``partial`` and ``first_nonblank_step``)."""
        return cls(
            **{key: state[key] for key in COUNTERS},
            first_nonblank_step=int(state.get("first_nonblank_step", -1)),
            partial=json.loads(state.get("partial", "null")),
        )


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


def training_state(parts: dict[str, Stateful], loop: LoopState) -> dict[str, Any]:
    """A checkpoint's ``training_state``: each part's state by name, every RNG, the loop's counters."""
    return {**{name: part.state_dict() for name, part in parts.items()}, **rng_state(), **loop.to_dict()}


def restore_training_state(parts: dict[str, Stateful], state: dict[str, Any]) -> LoopState:
    """Put ``state`` (from :func:`training_state`) back into ``parts`` and the global RNGs; returns the loop's counters."""
    for name, part in parts.items():
        part.load_state_dict(state[name])
    restore_rng(state)
    return LoopState.from_dict(state)
