"""Dataset, padding collate and a length-bucketed batch sampler."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from signdistill.data.manifest import Utterance, load_features, min_ctc_frames
from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary
from signdistill.errors import DataError


@dataclass
class Batch:
    """A padded batch.

    Attributes:
        features: ``(B, T, D)`` float32, zero beyond each utterance's length.
        lengths: ``(B,)`` int64 frame counts.
        targets: ``(sum(target_lengths),)`` int64 concatenated label ids.
        target_lengths: ``(B,)`` int64.
        ids: utterance ids; ``signers``: signer per utterance (or None);
        indices: position of each utterance in its dataset.
        label_weights: ``(B,)`` float32 weight of each utterance's targets in the CTC term, or
            ``None`` when every utterance is labelled (weight 1). A pseudo-labelled utterance
            has ``distill.unlabeled.pseudo_weight``, an unlabeled one without a label 0.
    """

    features: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor
    ids: list[str]
    signers: list[str | None]
    indices: list[int]
    label_weights: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.features.to(device, non_blocking=True),
            self.lengths.to(device),
            self.targets.to(device),
            self.target_lengths.to(device),
            self.ids,
            self.signers,
            self.indices,
            None if self.label_weights is None else self.label_weights.to(device),
        )

    @property
    def num_frames(self) -> int:
        return int(self.lengths.sum())


class SignDataset(Dataset):
    """Utterances with normalized features and encoded gloss targets, held in memory.

    Every feature file is loaded and validated when the dataset is built, so a bad file
    fails before training starts, with its path and utterance id in the message.
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        vocab: Vocabulary,
        normalizer: Normalizer | None = None,
        *,
        feature_dim: int | None = None,
        source: str = "",
    ):
        self.utterances = list(utterances)
        self.vocab = vocab
        self.normalizer = normalizer
        dim = feature_dim if feature_dim is not None else (normalizer.dim if normalizer else None)
        self.raw: list[np.ndarray] = []
        for u in self.utterances:
            ctx = f"utterance {u.id!r}" + (f" of {source}" if source else "")
            arr = load_features(u.features, expect_dim=dim, context=ctx)
            dim = arr.shape[1]
            need = min_ctc_frames(u.glosses)
            if arr.shape[0] < need:
                raise DataError(
                    f"Utterance {u.id!r} ({source or u.features}) has {arr.shape[0]} frames but "
                    f"{len(u.glosses)} glosses: CTC needs at least {need} frames (one per gloss "
                    "plus one between repeated glosses). Remove it or check its features."
                )
            self.raw.append(arr)
        self.feature_dim = dim
        self.targets = [torch.tensor(vocab.encode(u.glosses), dtype=torch.long) for u in self.utterances]
        self._normalized: list[torch.Tensor] | None = None
        # Set by `add_unlabeled`: how many leading utterances are labelled, and each utterance's target weight.
        self.num_labelled = len(self.utterances)
        self.label_weights: list[float] | None = None
        self.unlabeled_per_epoch = 0
        self.augmentation: Callable[[np.ndarray, int, int, int], np.ndarray] | None = None
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch seeds the augmentation of every utterance."""
        self.epoch = epoch

    def add_unlabeled(self, utterances: Sequence[Utterance], per_epoch: int, *, source: str = "") -> None:
        """Append recordings without glosses; ``per_epoch`` of them join each training epoch.

        Their features are checked like the labelled ones and normalized with this dataset's
        normalizer (that of the labelled split). They start with no targets and weight 0:
        :meth:`set_targets` gives them pseudo-labels.
        """
        if self.label_weights is not None:
            raise ValueError("add_unlabeled was called already")
        for u in utterances:
            ctx = f"utterance {u.id!r}" + (f" of {source}" if source else "")
            self.raw.append(load_features(u.features, expect_dim=self.feature_dim, context=ctx))
        self.utterances.extend(utterances)
        self.targets.extend(torch.zeros(0, dtype=torch.long) for _ in utterances)
        self.label_weights = [1.0] * self.num_labelled + [0.0] * len(utterances)
        self.unlabeled_per_epoch = min(max(per_epoch, 0), len(utterances))
        self._normalized = None

    def set_targets(self, i: int, targets: Sequence[int], weight: float) -> None:
        """Give utterance ``i`` (an unlabeled one) the targets ``targets`` with CTC weight ``weight``."""
        if self.label_weights is None or i < self.num_labelled:
            raise ValueError(f"utterance {i} is labelled; only unlabeled utterances take pseudo-labels")
        self.targets[i] = torch.tensor(list(targets), dtype=torch.long)
        self.label_weights[i] = float(weight)

    def set_normalizer(self, normalizer: Normalizer) -> None:
        self.normalizer = normalizer
        self._normalized = None

    @property
    def lengths(self) -> list[int]:
        return [a.shape[0] for a in self.raw]

    def __len__(self) -> int:
        return len(self.utterances)

    def features(self, i: int) -> torch.Tensor:
        if self._normalized is None:
            norm = self.normalizer
            self._normalized = [torch.from_numpy(norm(a) if norm else a.copy()) for a in self.raw]
        return self._normalized[i]

    def __getitem__(self, i: int) -> dict:
        u = self.utterances[i]
        feats = self.features(i)
        if self.augmentation is not None:
            need = min_ctc_frames(u.glosses) if i < self.num_labelled else min_ctc_frames(self.targets[i].tolist())
            feats = torch.from_numpy(self.augmentation(feats.numpy(), need, self.epoch, i))
        item = {"index": i, "id": u.id, "signer": u.signer, "features": feats, "targets": self.targets[i]}
        if self.label_weights is not None:
            item["label_weight"] = self.label_weights[i]
        return item


def collate(items: list[dict]) -> Batch:
    """Pad features to the longest utterance; concatenate targets CTC-style."""
    lengths = torch.tensor([it["features"].shape[0] for it in items], dtype=torch.long)
    dim = items[0]["features"].shape[1]
    feats = torch.zeros(len(items), int(lengths.max()) if len(items) else 0, dim)
    for b, it in enumerate(items):
        feats[b, : it["features"].shape[0]] = it["features"]
    return Batch(
        features=feats,
        lengths=lengths,
        targets=torch.cat([it["targets"] for it in items]),
        target_lengths=torch.tensor([len(it["targets"]) for it in items], dtype=torch.long),
        ids=[it["id"] for it in items],
        signers=[it["signer"] for it in items],
        indices=[it["index"] for it in items],
        label_weights=torch.tensor([it["label_weight"] for it in items], dtype=torch.float32) if "label_weight" in items[0] else None,
    )


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar lengths, so little compute is spent on padding.

    Each epoch the indices are shuffled, split into pools of ``pool_batches`` batches,
    sorted by length within a pool, cut into batches, and the batches shuffled. With
    ``shuffle=False`` the batches are simply consecutive in length order (for evaluation).
    ``set_epoch`` makes the order a function of (seed, epoch), so resuming reproduces it.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        pool_batches: int = 50,
        bucket: bool = True,
        optional_from: int | None = None,
        optional_per_epoch: int = 0,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool = max(1, pool_batches) * batch_size
        self.bucket = bucket
        self.epoch = 0
        # Indices from `optional_from` on are a pool (unlabeled utterances): each epoch draws
        # `optional_per_epoch` of them, anew, beside every index before it.
        self.optional_from = len(self.lengths) if optional_from is None else optional_from
        self.optional_per_epoch = min(optional_per_epoch, len(self.lengths) - self.optional_from) if optional_from is not None else 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> list[int]:
        if self.optional_from >= len(self.lengths):
            return list(range(len(self.lengths)))
        pool = list(range(self.optional_from, len(self.lengths)))
        random.Random(self.seed * 1_000_033 + self.epoch * 7 + 1).shuffle(pool)
        return list(range(self.optional_from)) + sorted(pool[: self.optional_per_epoch])

    def batches(self) -> list[list[int]]:
        idx = self._indices()
        if not self.shuffle:
            if self.bucket:
                idx.sort(key=lambda i: self.lengths[i])
            return [idx[i : i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        rng.shuffle(idx)
        out: list[list[int]] = []
        for start in range(0, len(idx), self.pool):
            pool = idx[start : start + self.pool]
            if self.bucket:
                pool.sort(key=lambda i: self.lengths[i])
            out.extend(pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size))
        rng.shuffle(out)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return (self.optional_from + self.optional_per_epoch + self.batch_size - 1) // self.batch_size
