"""Run configuration: pydantic schemas loaded from YAML, with dotted overrides.

One YAML file describes one run. Loading uses ``yaml.safe_load`` (YAML never builds
objects or imports code) and every section forbids unknown keys, so a typo is an error
that suggests the closest valid key, not a silently ignored setting. Relative paths are
taken from the current working directory.

The schemas live in :mod:`~signdistill.config.sections` (a training run),
:mod:`~signdistill.config.distill` (the distill section) and :mod:`~signdistill.config.compare`
(``signdistill compare``); loading and overrides in :mod:`~signdistill.config.loading`, error
messages in :mod:`~signdistill.config.messages`, the generated reference in
:mod:`~signdistill.config.reference`. Every public name is importable from here.
"""

from __future__ import annotations

from signdistill.config.compare import CompareConfig, CompareExecutor, CompareLM, CompareRecipe, CompareTeacher, CompareTrain
from signdistill.config.distill import DistillRunConfig, DistillSection, LossWeights, ScheduleConfig, TeacherRef
from signdistill.config.loading import _apply_override, dump_config, load_config
from signdistill.config.reference import reference_markdown
from signdistill.config.sections import AugmentConfig, DataConfig, GuideConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig

__all__ = [
    "AugmentConfig",
    "CompareConfig",
    "CompareExecutor",
    "CompareLM",
    "CompareRecipe",
    "CompareTeacher",
    "CompareTrain",
    "DataConfig",
    "DistillRunConfig",
    "DistillSection",
    "GuideConfig",
    "LossWeights",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "ScheduleConfig",
    "TeacherRef",
    "TrainConfig",
    "_apply_override",
    "dump_config",
    "load_config",
    "reference_markdown",
]
