"""Stopping a run cleanly: SIGINT/SIGTERM ask the Trainer to save at the next safe point.

The first signal sets ``trainer.stop_signal``; the Trainer checks it between optimizer steps,
saves ``run_dir/last`` with its position inside the epoch and raises
:class:`TrainingInterrupted`; rerunning the same command resumes exactly. A second signal
stops at once (``KeyboardInterrupt``).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from signdistill.errors import SignDistillError
from signdistill.signals import handling

# The Trainer's logger: the CLI's log lines name it, as before this module was split off.
log = logging.getLogger("signdistill.training.trainer")


class Stoppable(Protocol):
    """What the handlers set: the name of the signal received (None until one arrives)."""

    stop_signal: str | None


class StopRequested(Exception):
    """Raised inside the epoch loop at a safe point after SIGINT/SIGTERM."""


class TrainingInterrupted(SignDistillError):
    """The run was stopped by a signal after saving its state; rerunning resumes it."""

    exit_code = 130


@contextmanager
def stopping_on_signals(trainer: Stoppable) -> Iterator[None]:
    """While the block runs, SIGINT/SIGTERM ask the trainer to stop at the next safe point and save (main thread only)."""

    def handler(signum: int, frame: Any) -> None:
        if trainer.stop_signal is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        trainer.stop_signal = signal.Signals(signum).name
        log.warning("%s received: saving a checkpoint at the next batch boundary", trainer.stop_signal)

    with handling(handler, signal.SIGINT, signal.SIGTERM):
        yield
