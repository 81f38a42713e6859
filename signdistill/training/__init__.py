"""Training: the Trainer and its collaborators (objectives, run folder, distillation, pseudo-labels); checkpoints re-exported."""

from signdistill.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from signdistill.training.objectives import CTCObjective, Objective
from signdistill.training.trainer import CollapseError, Trainer, TrainingInterrupted, TrainResult, predict, score_dataset

__all__ = [
    "CTCObjective",
    "Checkpoint",
    "CollapseError",
    "Objective",
    "TrainResult",
    "TrainingInterrupted",
    "Trainer",
    "load_checkpoint",
    "predict",
    "save_checkpoint",
    "score_dataset",
]
