"""Moved to :mod:`signdistill.checkpoint` (which needs no training code); kept so old imports work."""

from signdistill.checkpoint import (
    FORMAT_VERSION,
    META,
    STATE,
    WEIGHTS,
    Checkpoint,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    save_weights,
)

__all__ = [
    "FORMAT_VERSION",
    "META",
    "STATE",
    "WEIGHTS",
    "Checkpoint",
    "load_checkpoint",
    "load_training_state",
    "save_checkpoint",
    "save_weights",
]
