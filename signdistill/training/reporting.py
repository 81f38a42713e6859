"""How the Trainer reports progress: a :class:`Reporter` the CLI renders with rich; the library only logs."""

from __future__ import annotations

import logging
from typing import Any, Protocol

# The Trainer's logger: the CLI's log lines name it, as before this module was split off.
log = logging.getLogger("signdistill.training.trainer")


class Reporter(Protocol):
    """Receives progress; the CLI renders it with rich, the library only logs."""

    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None: ...
    def step(self, metrics: dict[str, float]) -> None: ...
    def epoch_end(self, metrics: dict[str, Any]) -> None: ...


def call_hook(reporter: Any, name: str, info: dict[str, Any]) -> None:
    """Call an optional reporter hook (``run_start``/``run_end``) when the reporter has it."""
    hook = getattr(reporter, name, None)
    if callable(hook):
        hook(info)


class SilentReporter:
    """Reports nothing (ranks other than 0 under torchrun)."""

    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        pass

    def step(self, metrics: dict[str, float]) -> None:
        pass

    def epoch_end(self, metrics: dict[str, Any]) -> None:
        pass


class LogReporter(SilentReporter):
    """Logs each epoch's metrics (the default outside the CLI)."""

    def epoch_end(self, metrics: dict[str, Any]) -> None:
        log.info("epoch %s: %s", metrics.get("epoch"), {k: v for k, v in metrics.items() if k != "epoch"})
