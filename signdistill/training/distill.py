"""Distillation objective: frozen teacher(s) or a teacher cache -> :class:`DistillationLoss`."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from signdistill.checkpoint import Checkpoint
from signdistill.data.dataset import Batch, BucketBatchSampler, SignDataset, collate
from signdistill.decoding import greedy_decode
from signdistill.defaults import TEACHER_TOPK
from signdistill.errors import CheckpointError, DataError
from signdistill.io import default_mode
from signdistill.losses import (
    DistillationLoss,
    LossOutput,
    TeacherTargets,
    TemperatureSchedule,
    ctc_loss,
    teacher_log_probs,
    weighted_ctc_loss,
)
from signdistill.models import CTCModel
from signdistill.training.objectives import Objective

CACHE_INDEX = "index.json"


def check_teacher_compatible(teacher: Checkpoint, data: SignDataset, name: str) -> None:
    """Refuse a teacher whose vocabulary, feature dimension or normalizer differ from the data's."""
    if teacher.vocab != data.vocab:
        t, d = teacher.vocab.tokens, data.vocab.tokens
        only_t = sorted(set(t) - set(d))[:5]
        only_d = sorted(set(d) - set(t))[:5]
        raise CheckpointError(
            f"Teacher {name} was trained with a different gloss vocabulary ({len(t)} entries) than the "
            f"student's training data gives ({len(d)} entries; only in teacher: {only_t}, only in data: "
            f"{only_d}{', same glosses in another order' if not only_t and not only_d else ''}). Distill on the "
            "data the teacher was trained on, or retrain the teacher on this data."
        )
    norm = data.normalizer
    assert norm is not None
    if teacher.spec.input_dim != norm.dim:
        raise CheckpointError(
            f"Teacher {name} expects {teacher.spec.input_dim}-dimensional features; the student's data "
            f"has {norm.dim}. Use features of the same kind for both."
        )
    if not teacher.normalizer.allclose(norm):
        raise CheckpointError(
            f"Teacher {name} normalizes features with statistics that differ from those of the student's "
            "training split (a different training set or feature pipeline). Distill on the teacher's "
            "training data, or retrain the teacher on this data."
        )


def _pad_time(rows: Sequence[torch.Tensor], max_len: int, fill: float | int = 0) -> torch.Tensor:
    out = rows[0].new_full((len(rows), max_len, *rows[0].shape[1:]), fill)
    for b, r in enumerate(rows):
        out[b, : r.shape[0]] = r
    return out


def is_teacher_cache(path: str | os.PathLike[str]) -> bool:
    """True for a folder written by :func:`write_teacher_cache` (its index names the shards and top-k)."""
    try:
        info = json.loads((Path(path) / CACHE_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and {"topk", "shards", "vocabulary"} <= set(info)


class TeacherCache:
    """Top-k teacher outputs per utterance, from ``signdistill cache-teacher``."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        index_file = self.path / CACHE_INDEX
        if not index_file.is_file():
            raise DataError(f"{self.path} is not a teacher cache (no {CACHE_INDEX}). Create one with `signdistill cache-teacher`.")
        self.info = json.loads(index_file.read_text(encoding="utf-8"))
        self.values: dict[str, torch.Tensor] = {}
        self.indices: dict[str, torch.Tensor] = {}
        self.sequences: dict[str, list[int]] = {}
        for shard in self.info["shards"]:
            try:
                tensors = load_file(str(self.path / shard))
            except (SafetensorError, OSError) as exc:
                raise DataError(f"Teacher cache shard {self.path / shard} cannot be read ({exc}). Recreate the cache.") from None
            for key, t in tensors.items():
                uid, kind = key.rsplit("/", 1)
                if kind == "values":
                    self.values[uid] = t
                elif kind == "indices":
                    self.indices[uid] = t
                else:
                    self.sequences[uid] = t.tolist()

    @property
    def topk(self) -> int:
        return int(self.info["topk"])

    def check(self, data: SignDataset) -> None:
        if self.info["vocabulary"] != data.vocab.tokens:
            raise DataError(f"Teacher cache {self.path} was made with another vocabulary than the training data's. Recreate it.")
        missing = [u.id for u in data.utterances if u.id not in self.values]
        if missing:
            raise DataError(
                f"Teacher cache {self.path} has no entry for {len(missing)} utterance(s) the student trains on (data.train and "
                f"data.unlabeled), e.g. {missing[:3]}. Recreate it on the same manifests: `signdistill cache-teacher` with this "
                "config, or `signdistill import-teacher --manifest TRAIN --unlabeled UNLABELED` for another code base's teacher."
            )
        for u, n in zip(data.utterances, data.lengths):
            if self.values[u.id].shape[0] != n:
                raise DataError(
                    f"Teacher cache {self.path}: utterance {u.id!r} has {self.values[u.id].shape[0]} frames cached but {n} in the data."
                )

    def batch(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        t = batch.features.shape[1]
        values = _pad_time([self.values[i] for i in batch.ids], t).to(batch.features.device)
        indices = _pad_time([self.indices[i] for i in batch.ids], t).to(batch.features.device)
        return values, indices.long()


def _write_shard(out: Path, number: int, tensors: dict[str, torch.Tensor]) -> str:
    """Write one cache shard atomically (temporary file, then rename); return its file name."""
    name = f"shard-{number:05d}.safetensors"
    tmp = out / f".{name}.tmp"
    save_file(tensors, str(tmp))
    os.chmod(tmp, default_mode())  # save_file leaves 0600
    os.replace(tmp, out / name)
    return name


@torch.no_grad()
def write_teacher_cache(
    teachers: Sequence[CTCModel],
    weights: Sequence[float],
    data: SignDataset,
    out: str | os.PathLike[str],
    *,
    topk: int = TEACHER_TOPK,
    batch_size: int = 32,
    shard_frames: int = 2_000_000,
    device: torch.device | str = "cpu",
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store top-k teacher log-probs (fp16) + indices + greedy transcripts, in safetensors shards."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Replacing a cache: drop its index first, so an interrupted rewrite is never read as a cache.
    (out / CACHE_INDEX).unlink(missing_ok=True)
    v = len(data.vocab)
    k = min(topk, v)
    idx_dtype = torch.int16 if v < 2**15 else torch.int32
    shards: list[str] = []
    current: dict[str, torch.Tensor] = {}
    frames_in_shard = 0
    total_frames = 0
    total_bytes = 0

    def flush() -> None:
        nonlocal current, frames_in_shard
        if current:
            shards.append(_write_shard(out, len(shards), current))
        current, frames_in_shard = {}, 0

    for idx in BucketBatchSampler(data.lengths, batch_size, shuffle=False):
        batch = collate([data[i] for i in idx]).to(device)
        logits = [t(batch.features, batch.lengths).logits for t in teachers]
        lp = teacher_log_probs(logits if len(logits) > 1 else logits[0], 1.0, weights=weights if len(logits) > 1 else None)
        vals, inds = lp.topk(k, dim=-1)
        seqs = greedy_decode(lp, batch.lengths)
        for b, uid in enumerate(batch.ids):
            n = int(batch.lengths[b])
            current[f"{uid}/values"] = vals[b, :n].half().cpu().contiguous()
            current[f"{uid}/indices"] = inds[b, :n].to(idx_dtype).cpu().contiguous()
            current[f"{uid}/sequence"] = torch.tensor(seqs[b], dtype=torch.int32)
            total_bytes += n * k * (2 + idx_dtype.itemsize)
            frames_in_shard += n
            total_frames += n
        if frames_in_shard >= shard_frames:
            flush()
    flush()
    info = {
        "topk": k,
        "vocabulary": data.vocab.tokens,
        "shards": shards,
        "utterances": len(data),
        "frames": total_frames,
        "bytes_per_frame": total_bytes / max(total_frames, 1),
        **(meta or {}),
    }
    tmp_index = out / f".{CACHE_INDEX}.tmp"
    tmp_index.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_index, out / CACHE_INDEX)
    return info


class DistillObjective(Objective):
    """Student vs frozen teacher(s): the configured :class:`DistillationLoss` per batch.

    Teachers are kept outside the module's parameters (no gradients, no optimizer
    state, not saved); the loss's FitNets regressors are trainable parameters of this
    objective and live in the training state only.
    """

    def __init__(
        self,
        loss: DistillationLoss,
        schedule: TemperatureSchedule,
        *,
        teachers: Sequence[CTCModel] = (),
        teacher_weights: Sequence[float] | None = None,
        cache: TeacherCache | None = None,
        ctc_warmup_epochs: int = 0,
        kd_ramp_epochs: int = 0,
        kd_last_epoch: int | None = None,
    ):
        super().__init__()
        if not teachers and cache is None:
            raise ValueError("give teachers or a teacher cache")
        self.loss = loss
        self.schedule = schedule
        self._teachers = list(teachers)
        for t in self._teachers:
            t.eval()
            t.requires_grad_(False)
        self.teacher_weights = list(teacher_weights) if teacher_weights is not None else None
        self.cache = cache
        self.ctc_warmup_epochs = ctc_warmup_epochs
        self.kd_ramp_epochs = kd_ramp_epochs
        self.kd_last_epoch = kd_last_epoch
        self.temperature = schedule(1)
        self.kd_scale = 1.0

    def _apply(self, fn, *args, **kwargs):  # keep teachers on the objective's device
        for t in self._teachers:
            t._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def train(self, mode: bool = True) -> DistillObjective:
        super().train(mode)
        for t in self._teachers:
            t.eval()  # frozen: dropout stays off whatever the student does
        return self

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        self.temperature = float(self.schedule(epoch))
        after = epoch - self.ctc_warmup_epochs
        if after <= 0 or (self.kd_last_epoch is not None and epoch > self.kd_last_epoch):
            self.kd_scale = 0.0
        elif self.kd_ramp_epochs:
            self.kd_scale = min(1.0, after / self.kd_ramp_epochs)
        else:
            self.kd_scale = 1.0
        return {"temperature": self.temperature, "kd_scale": self.kd_scale}

    def forward(self, model: CTCModel, batch: Batch) -> LossOutput:
        if self.kd_scale == 0.0:  # CTC warm-up: no teacher at all
            out = model(batch.features, batch.lengths)
            if batch.label_weights is None:
                c = ctc_loss(out.logits, out.lengths, batch.targets, batch.target_lengths)
            else:
                c = weighted_ctc_loss(out.logits, out.lengths, batch.targets, batch.target_lengths, batch.label_weights)
            return LossOutput(c, {"ctc": float(c.detach()), "total": float(c.detach())})
        student = model(batch.features, batch.lengths, return_hidden="hidden" in self.loss.needs)
        return self.loss(  # at the student's output frames: the loss brings a teacher at another rate to them
            student.logits,
            self.teacher_targets(batch),
            student.lengths,
            batch.targets,
            batch.target_lengths,
            temperature=self.temperature,
            kd_scale=self.kd_scale,
            student_hidden=student.hidden,
            target_weights=batch.label_weights,
        )

    def teacher_targets(self, batch: Batch) -> TeacherTargets:
        """What the loss's terms read of the teacher(s) for this batch, computed once."""
        needs = self.loss.needs
        if self.cache is not None:
            seqs = [self.cache.sequences[i] for i in batch.ids] if "sequences" in needs else None
            targets = TeacherTargets(
                topk=self.cache.batch(batch), sequences=self._sequence_targets(seqs, batch) if seqs is not None else None
            )
            targets.lengths = batch.lengths  # a cache is at the input's frame rate
            targets.classes = len(self.cache.info["vocabulary"])  # its top-k can serve the full-posterior terms
            return targets
        with torch.inference_mode():  # frozen teacher: no autograd bookkeeping at all
            dtype = next(iter(self._teachers[0].parameters()), batch.features).dtype  # bf16 weights take bf16 input
            feats = batch.features if dtype == torch.float32 else batch.features.to(dtype)
            outs = [t(feats, batch.lengths, return_hidden="hidden" in needs) for t in self._teachers]
            if feats is not batch.features:  # the loss computes in float32
                outs = [type(o)(o.logits.float(), o.lengths, [h.float() for h in o.hidden]) for o in outs]
        if len({o.logits.shape[1] for o in outs}) > 1:
            raise ValueError("teachers of an ensemble must share a frame rate (model.temporal_stride)")
        ensemble = len(outs) > 1
        logits = [o.logits for o in outs] if ensemble else outs[0].logits
        targets = TeacherTargets(logits, self.teacher_weights if ensemble else None, hidden=outs[0].hidden)
        targets.lengths = outs[0].lengths
        if "sequences" in needs:  # greedy transcripts of the T = 1 (mixed) posteriors
            mixed = teacher_log_probs(logits, 1.0, weights=targets.weights)
            targets.sequences = self._sequence_targets(greedy_decode(mixed, batch.lengths), batch)
        return targets

    @staticmethod
    def _sequence_targets(seq_ids: list[list[int]], batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher transcripts as CTC targets; the ground truth where the teacher said nothing."""
        gt = batch.targets.split(batch.target_lengths.tolist())
        rows = [torch.tensor(s, dtype=torch.long, device=batch.targets.device) if s else g for s, g in zip(seq_ids, gt)]
        return torch.cat(rows), torch.tensor([len(r) for r in rows], dtype=torch.long, device=batch.targets.device)
