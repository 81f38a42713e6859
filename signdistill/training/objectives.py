"""What the Trainer optimizes: a callable ``(model, batch) -> LossOutput``.

An objective may own trainable parameters (the FitNets regressors); they are trained
with the model and saved in the training state, never in the model's weights.
"""

from __future__ import annotations

import abc

import torch
from torch import nn

from signdistill.data.dataset import Batch
from signdistill.losses import LossOutput, ctc_loss, guided_ctc_loss
from signdistill.models import CTCModel


class Objective(nn.Module, abc.ABC):
    """Base class. ``on_epoch_start`` returns values to log for the epoch (e.g. temperature)."""

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        return {}

    @abc.abstractmethod
    def forward(self, model: CTCModel, batch: Batch) -> LossOutput: ...


class CTCObjective(Objective):
    """Plain CTC on the ground-truth glosses."""

    def forward(self, model: CTCModel, batch: Batch) -> LossOutput:
        out = model(batch.features, batch.lengths)
        loss = ctc_loss(out.logits, out.lengths, batch.targets, batch.target_lengths)
        return LossOutput(loss, {"ctc": float(loss.detach()), "total": float(loss.detach())})


class GuidedCTCObjective(Objective):
    """CTC plus the guided-CTC term towards a frozen guide model's spike timings.

    Used to train a *teacher* whose CTC spikes fall where the small student's do, so that
    frame-level distillation does not ask the student to fire where it cannot.
    """

    def __init__(self, guide: CTCModel, weight: float = 1.0):
        super().__init__()
        self._guide = [guide.eval().requires_grad_(False)]  # a list: not a registered submodule
        self.weight = weight

    def _apply(self, fn, *args, **kwargs):  # keep the guide on the objective's device
        self._guide[0]._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def forward(self, model: CTCModel, batch: Batch) -> LossOutput:
        out = model(batch.features, batch.lengths)
        with torch.no_grad():
            guide = self._guide[0](batch.features, batch.lengths).logits
        c = ctc_loss(out.logits, out.lengths, batch.targets, batch.target_lengths)
        g = guided_ctc_loss(out.logits, guide, out.lengths)
        total = c + self.weight * g
        return LossOutput(total, {"ctc": float(c.detach()), "guided": float(g.detach()), "total": float(total.detach())})
