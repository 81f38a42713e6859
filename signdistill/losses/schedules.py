"""Temperature schedules over epochs (1-based, as users count them)."""

from __future__ import annotations

import abc
import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass


class TemperatureSchedule(abc.ABC):
    """Maps an epoch (1-based) to a temperature."""

    @abc.abstractmethod
    def __call__(self, epoch: int) -> float: ...


@dataclass(frozen=True)
class ConstantSchedule(TemperatureSchedule):
    value: float

    def __call__(self, epoch: int) -> float:
        return self.value


@dataclass(frozen=True)
class PiecewiseSchedule(TemperatureSchedule):
    """``values[i]`` up to and including epoch ``boundaries[i]``; the last value after.

    The plan's schedule, 4.0 for epochs 1-30, 3.5 for 31-70, 3.0 for 71-100:
        >>> s = PiecewiseSchedule(values=(4.0, 3.5, 3.0), boundaries=(30, 70))
        >>> s(1), s(30), s(31), s(70), s(71), s(100)
        (4.0, 4.0, 3.5, 3.5, 3.0, 3.0)
    """

    values: Sequence[float]
    boundaries: Sequence[int]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError("values needs exactly one more entry than boundaries")

    def __call__(self, epoch: int) -> float:
        return float(self.values[bisect.bisect_left(list(self.boundaries), epoch)])


@dataclass(frozen=True)
class LinearSchedule(TemperatureSchedule):
    """From ``start`` at epoch 1 to ``end`` at epoch ``epochs``, constant after."""

    start: float
    end: float
    epochs: int

    def _progress(self, epoch: int) -> float:
        return min(max(epoch - 1, 0) / max(self.epochs - 1, 1), 1.0)

    def __call__(self, epoch: int) -> float:
        return self.start + (self.end - self.start) * self._progress(epoch)


@dataclass(frozen=True)
class CosineSchedule(LinearSchedule):
    """Half-cosine from ``start`` (epoch 1) to ``end`` (epoch ``epochs``)."""

    def __call__(self, epoch: int) -> float:
        return self.end + (self.start - self.end) * 0.5 * (1 + math.cos(math.pi * self._progress(epoch)))


def make_schedule(spec: float | dict, total_epochs: int) -> TemperatureSchedule:
    """Build a schedule from a number or a dict ``{kind: ..., ...}`` (as in the YAML config)."""
    if isinstance(spec, (int, float)):
        return ConstantSchedule(float(spec))
    kind = spec.get("kind")
    if kind == "constant":
        return ConstantSchedule(float(spec["value"]))
    if kind == "piecewise":
        return PiecewiseSchedule(tuple(spec["values"]), tuple(spec["boundaries"]))
    if kind in ("linear", "cosine"):
        cls = LinearSchedule if kind == "linear" else CosineSchedule
        return cls(float(spec["start"]), float(spec["end"]), int(spec.get("epochs") or total_epochs))
    raise ValueError(f"unknown schedule kind {kind!r}; use constant, piecewise, linear or cosine")
