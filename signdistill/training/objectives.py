"""What the Trainer optimizes: a callable ``(model, batch) -> LossOutput``.

An objective may own trainable parameters (the FitNets regressors); they are trained
with the model and saved in the training state, never in the model's weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from signdistill.data.dataset import Batch
from signdistill.losses import LossOutput, ctc_loss
from signdistill.models import CTCModel


class Objective(nn.Module):
    """Base class. ``on_epoch_start`` returns values to log for the epoch (e.g. temperature)."""

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        return {}

    def forward(self, model: CTCModel, batch: Batch) -> LossOutput:  # pragma: no cover - interface
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        return {}


class CTCObjective(Objective):
    """Plain CTC on the ground-truth glosses."""

    def forward(self, model: CTCModel, batch: Batch) -> LossOutput:
        out = model(batch.features, batch.lengths)
        loss = ctc_loss(out.logits, out.lengths, batch.targets, batch.target_lengths)
        return LossOutput(loss, {"ctc": float(loss.detach()), "total": float(loss.detach())})


def move_to(obj: nn.Module, device: torch.device) -> None:
    obj.to(device)
