"""A run's metrics: one JSON record per line in ``run_dir/metrics.jsonl``, mirrored to TensorBoard when installed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

# The Trainer's logger: the CLI's log lines name it, as before this module was split off.
log = logging.getLogger("signdistill.training.trainer")


class MetricsLog:
    """Appends records to ``metrics.jsonl`` and, once :meth:`open_tensorboard` ran, to TensorBoard; only rank 0 writes."""

    def __init__(self, run_dir: Path, *, main: bool = True):
        self.run_dir, self.main = run_dir, main
        self.path = run_dir / "metrics.jsonl"
        self._tb: Any = None

    def open_tensorboard(self) -> None:
        """Mirror the numeric fields to ``run_dir/tensorboard`` (nothing when tensorboard is not installed)."""
        if not self.main:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.debug("tensorboard not installed; logging to metrics.jsonl only")
            return
        self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    def write(self, record: dict[str, Any], step: int) -> None:
        """Append ``record``; TensorBoard plots its numbers at its ``step`` field (``step`` when it has none)."""
        if not self.main:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("epoch", "step"):
                    self._tb.add_scalar(k, v, record.get("step", step))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
