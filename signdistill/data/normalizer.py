"""Per-dimension feature normalization fitted on the training split."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class Normalizer:
    """``(x - mean) / std`` per feature dimension; saved with every checkpoint."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError("Normalizer mean and std must be 1-D arrays of equal length.")

    @classmethod
    def fit(cls, arrays: Iterable[np.ndarray], eps: float = 1e-5) -> Normalizer:
        """Fit mean and std over all frames (float64 accumulation, Chan's parallel update)."""
        n = 0
        mean = None
        m2 = None
        for arr in arrays:
            a = arr.astype(np.float64)
            k = a.shape[0]
            if k == 0:
                continue
            bm = a.mean(axis=0)
            bm2 = ((a - bm) ** 2).sum(axis=0)
            if mean is None:
                n, mean, m2 = k, bm, bm2
                continue
            delta = bm - mean
            tot = n + k
            mean = mean + delta * k / tot
            m2 = m2 + bm2 + delta**2 * n * k / tot
            n = tot
        if mean is None or m2 is None:
            raise ValueError("Cannot fit a normalizer on zero frames.")
        std = np.sqrt(m2 / max(n, 1))
        return cls(mean, np.maximum(std, eps))

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> Normalizer:
        return cls(np.array(d["mean"], dtype=np.float32), np.array(d["std"], dtype=np.float32))

    def allclose(self, other: Normalizer, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
        return self.dim == other.dim and bool(
            np.allclose(self.mean, other.mean, rtol=rtol, atol=atol) and np.allclose(self.std, other.std, rtol=rtol, atol=atol)
        )
