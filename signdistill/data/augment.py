"""Temporal augmentation for training: speed perturbation, frame dropping, small noise.

Off by default. Seeded per (seed, epoch, utterance), so a resumed run sees the same
augmented frames as an uninterrupted one, whatever the batch order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Augmentation:
    """``speed``: resampling factor range (1.1 = 10% faster, fewer frames); ``frame_drop``:
    probability of dropping each frame; ``noise``: std of Gaussian noise (normalized units)."""

    speed: tuple[float, float] = (1.0, 1.0)
    frame_drop: float = 0.0
    noise: float = 0.0
    seed: int = 0

    def __call__(self, x: np.ndarray, min_frames: int, epoch: int, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch, index])
        t = x.shape[0]
        lo, hi = self.speed
        if (lo, hi) != (1.0, 1.0):
            factor = float(rng.uniform(lo, hi))
            n = max(min_frames, int(round(t / factor)))
            if n != t:
                # Linear interpolation along time, per dimension.
                pos = np.linspace(0, t - 1, n)
                left = np.floor(pos).astype(int)
                right = np.minimum(left + 1, t - 1)
                w = (pos - left)[:, None]
                x = (x[left] * (1 - w) + x[right] * w).astype(np.float32)
        if self.frame_drop > 0 and x.shape[0] > min_frames:
            keep = rng.random(x.shape[0]) >= self.frame_drop
            if keep.sum() >= min_frames:
                x = x[keep]
        if self.noise > 0:
            x = (x + rng.normal(0, self.noise, size=x.shape)).astype(np.float32)
        return x
