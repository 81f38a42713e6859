"""Watching a run: when it first decodes something, whether it collapsed to blank, when to stop early.

Checks the Trainer calls once per step or epoch; their state (``blank_streak``, ``bad_epochs``,
``best_wer``, ``first_nonblank_step``) lives in the Trainer's :class:`~signdistill.training.state.LoopState`,
which a checkpoint saves for exact resume.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from signdistill.decoding import greedy_decode
from signdistill.errors import SignDistillError
from signdistill.training.state import LoopState

# The Trainer's logger: the CLI's log lines name it, as before these checks were split off.
log = logging.getLogger("signdistill.training.trainer")

NONBLANK_CHECK_EVERY = 10


class CollapseError(SignDistillError):
    """The model decodes the dev set to blank only, evaluation after evaluation."""


@torch.no_grad()
def decodes_something(model: Any, batch: Any) -> bool:
    """Whether greedy decoding of this batch recognizes at least 10 % of its reference glosses.

    Counts matches of the sclite alignment, so the random non-blank output of a freshly
    initialised model does not count (it is followed by an all-blank plateau before CTC
    learns). Runs in eval mode: no dropout, no random numbers drawn, exact resume holds.
    """
    from signdistill.evaluation.wer import align_counts

    model.eval()
    try:
        out = model(batch.features, batch.lengths)
    finally:
        model.train()
    hyps = greedy_decode(out.logits, out.lengths)
    refs = torch.split(batch.targets.cpu(), batch.target_lengths.cpu().tolist())
    correct = total = 0
    for ref, hyp in zip(refs, hyps):
        r = ref.tolist()
        sub, dele, _ = align_counts(r, hyp)
        correct, total = correct + len(r) - sub - dele, total + len(r)
    return total > 0 and correct >= 0.1 * total


def next_blank_streak(streak: int, blank_rate: float, epoch: int, epochs: int, best_wer: float) -> int:
    """Evaluations in a row that decode (almost) all of dev to blank, after this one."""
    # A model that decoded something before and now decodes only blanks, or one
    # still all-blank past a third of training, has collapsed (a known KD failure).
    all_blank = blank_rate >= 0.95
    late = epoch > max(2, epochs // 3)
    return streak + 1 if (all_blank and (late or best_wer < 95.0)) else 0


def check_collapse(streak: int, patience: int, blank_rate: float, epoch: int, run_dir: Path) -> None:
    """Raise :class:`CollapseError` once ``streak`` reaches ``patience`` (0: never)."""
    if patience and streak >= patience:
        raise CollapseError(
            f"Training collapsed to blank: {100 * blank_rate:.0f}% of dev utterances decode "
            f"to nothing for {streak} evaluations in a row (epoch {epoch}). If the training loss is still falling, the "
            "model may only be slow to leave the all-blank stage (small models, small data): train on with "
            "train.collapse_patience: 0, or raise optim.lr. In distillation it usually means the KD term overwhelms CTC: "
            "lower the temperature, use distill.blank_mode 'drop', add distill.ctc_warmup_epochs, or raise loss.ctc. "
            f"Checkpoints so far are in {run_dir}."
        )


def early_stop(bad_epochs: int, patience: int) -> bool:
    """Whether ``patience`` epochs (0: off) passed without a dev WER gain."""
    return bool(patience) and bad_epochs >= patience


def track_dev(loop: LoopState, wer: float, blank_rate: float, epochs: int) -> bool:
    """Update ``loop``'s best dev WER, epochs without a gain and blank streak after an evaluation; returns whether dev WER improved."""
    improved = wer < loop.best_wer
    if improved:
        loop.best_wer, loop.best_epoch, loop.bad_epochs = wer, loop.epoch, 0
    else:
        loop.bad_epochs += 1
    loop.blank_streak = next_blank_streak(loop.blank_streak, blank_rate, loop.epoch, epochs, loop.best_wer)
    if loop.blank_streak:
        log.warning("epoch %d: %.0f%% of dev utterances decode to blank only", loop.epoch, 100 * blank_rate)
    return improved


def stop_after_epoch(loop: LoopState, collapse_patience: int, early_stopping_patience: int, blank_rate: float, run_dir: Path) -> bool:
    """Raise :class:`CollapseError` on a lasting all-blank dev set; True when early stopping ends the run."""
    check_collapse(loop.blank_streak, collapse_patience, blank_rate, loop.epoch, run_dir)
    if early_stop(loop.bad_epochs, early_stopping_patience):
        log.info("early stopping at epoch %d (best %.2f at epoch %d)", loop.epoch, loop.best_wer, loop.best_epoch)
        return True
    return False
