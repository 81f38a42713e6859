"""The inference corridor: a runnable model of any format, and running it over utterances in batches.

Every format (a checkpoint, a safetensors fp16 / int8 export, an ONNX export, ONNX int8) loads
into one :class:`Model` (:func:`signdistill.formats.load_model`) that maps normalized features to
log-probabilities. :func:`pad_batch` is the one padding of numpy features, :func:`batch_plan` the
one batching (input order, or length buckets as ``BucketBatchSampler(shuffle=False)`` cuts them),
and :func:`run_batches` / :func:`run_all` run a model over utterances with both: ``evaluate``,
``transcribe``, ``parity`` and ``benchmark`` use them. numpy only: this module never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary

LogProbsFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Model:
    """A checkpoint or export ready to run: normalized features -> log-probabilities.

    Attributes:
        kind: what runs: ``fp32``, ``fp16``, ``int8`` (PyTorch dynamic), ``onnx``,
            ``onnx-int8-dynamic`` or ``onnx-int8-static``.
        path: the folder it was loaded from.
        vocab, normalizer: those the model was trained with (read from its folder).
        spec: the model's hyperparameters (``ModelSpec.to_dict()``).
        run: ``(features (B, T, D) float32, lengths (B,) int64) -> log_probs (B, T, V)``.
        weights_file: the file that holds the weights, for :meth:`size_bytes`.
    """

    kind: str
    path: Path
    vocab: Vocabulary
    normalizer: Normalizer
    spec: dict[str, Any]
    run: LogProbsFn
    weights_file: str = "model.safetensors"

    @property
    def format(self) -> str:
        """The folder's format: ``fp32``, ``fp16``, ``int8`` or ``onnx`` (any ONNX, int8 included)."""
        return "onnx" if self.kind.startswith("onnx") else self.kind

    @property
    def input_dim(self) -> int:
        return self.normalizer.dim

    def log_probs(self, features: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``features (B, T, D)`` normalized float32, ``lengths (B,)`` -> ``(B, T, V)`` log-probs (float32)."""
        out = self.run(np.ascontiguousarray(features, dtype=np.float32), np.asarray(lengths, dtype=np.int64))
        return np.asarray(out, dtype=np.float32)

    def output_lengths(self, lengths: np.ndarray) -> np.ndarray:
        """Output frames per utterance: ``lengths`` halved (rounding up) once per stride-2 block of
        ``spec["temporal_stride"]``, as ``models.subsample.subsampled_lengths`` computes them."""
        out = np.asarray(lengths, dtype=np.int64)
        for _ in range(int(self.spec.get("temporal_stride", 1)).bit_length() - 1):
            out = (out + 1) // 2
        return out

    def size_bytes(self) -> int:
        """Size of the weights file on disk (a PyTorch int8 export stores fp32 weights: fp32-sized)."""
        return (self.path / self.weights_file).stat().st_size

    def num_parameters(self) -> int:
        """Parameters of the network (the same count as its checkpoint; needs torch)."""
        from signdistill.models import CTCModel, ModelSpec

        return CTCModel(ModelSpec.from_dict(self.spec)).num_parameters()


def pad_batch(features: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad utterances ``(T_i, D)`` to ``(B, max T_i, D)`` float32; returns it and the lengths ``(B,)`` int64.

    Example:
        >>> x, n = pad_batch([np.ones((2, 3)), np.ones((4, 3))])
        >>> x.shape, n.tolist()
        ((2, 4, 3), [2, 4])
    """
    if not features:
        raise ValueError("pad_batch needs at least one utterance.")
    lengths = np.array([f.shape[0] for f in features], dtype=np.int64)
    x = np.zeros((len(features), int(lengths.max()), features[0].shape[1]), dtype=np.float32)  # (B, T, D)
    for b, f in enumerate(features):
        x[b, : f.shape[0]] = f
    return x, lengths


def batch_plan(lengths: Sequence[int], batch_size: int, *, by_length: bool = False) -> list[list[int]]:
    """Indices in batches of ``batch_size``: in input order, or (``by_length``) sorted by length first
    (stable), which is how ``BucketBatchSampler(shuffle=False)`` batches an evaluation set."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i]) if by_length else list(range(len(lengths)))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def run_batches(
    model: Model | LogProbsFn, features: Sequence[np.ndarray], batch_size: int, *, by_length: bool = False
) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """Run ``model`` over ``features`` (normalized ``(T, D)`` arrays), ``batch_size`` at a time
    (:func:`batch_plan`); yields each batch's indices and its utterances' log-probs ``(T_i', V)``,
    cut at each utterance's output length (:meth:`Model.output_lengths`)."""
    fn = model.log_probs if isinstance(model, Model) else model
    for idx in batch_plan([f.shape[0] for f in features], batch_size, by_length=by_length):
        x, lengths = pad_batch([features[i] for i in idx])
        out = fn(x, lengths)  # (B, T', V): T' = T / temporal_stride
        frames = model.output_lengths(lengths) if isinstance(model, Model) else lengths
        yield idx, [np.asarray(out[b, :n], dtype=np.float32) for b, n in enumerate(frames.tolist())]


def run_all(model: Model | LogProbsFn, features: Sequence[np.ndarray], batch_size: int, *, by_length: bool = False) -> list[np.ndarray]:
    """:func:`run_batches` collected: every utterance's log-probs ``(T_i, V)``, in input order.

    Example:
        >>> log_probs = run_all(load_model("exported/onnx"), features, 32, by_length=True)  # doctest: +SKIP
    """
    out: list[np.ndarray] = [np.empty((0, 0), np.float32)] * len(features)
    for idx, lps in run_batches(model, features, batch_size, by_length=by_length):
        for i, lp in zip(idx, lps):
            out[i] = lp
    return out


__all__ = ["LogProbsFn", "Model", "batch_plan", "pad_batch", "run_all", "run_batches"]
