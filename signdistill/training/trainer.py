"""The Trainer: AdamW + warm-up/decay, AMP, accumulation, clipping, checkpoints, resume.

The Trainer owns the loop. Its collaborators live beside it in ``signdistill.training``:
``run_dir`` (the run folder), ``metrics_log`` (metrics.jsonl, TensorBoard), ``state`` (the loop's
counters as one :class:`~signdistill.training.state.LoopState`, and what a resume restores),
``optim`` (AdamW and its schedule), ``signals`` (stopping cleanly on SIGINT/SIGTERM), ``monitors``
(collapse guard, early stopping, first non-blank step), ``reporting`` (progress) and
``distributed`` (torchrun).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from signdistill.checkpoint import load_checkpoint, load_training_state, save_checkpoint
from signdistill.config import RunConfig
from signdistill.data.dataset import Batch, SignDataset, collate
from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary
from signdistill.errors import SignDistillError
from signdistill.evaluation.scoring import score
from signdistill.inference import predict
from signdistill.io import write_text_atomic
from signdistill.models import CTCModel
from signdistill.training.distributed import (
    any_rank,
    average_gradients,
    barrier,
    reduce_epoch_sums,
    training_batches,
    training_device,
    wrap_model,
)
from signdistill.training.metrics_log import MetricsLog
from signdistill.training.monitors import NONBLANK_CHECK_EVERY, decodes_something, stop_after_epoch, track_dev
from signdistill.training.monitors import CollapseError as CollapseError  # importable from here as before
from signdistill.training.objectives import Objective
from signdistill.training.optim import build_optimizer
from signdistill.training.optim import lr_lambda as lr_lambda  # importable from here as before
from signdistill.training.reporting import LogReporter, Reporter, SilentReporter, call_hook
from signdistill.training.run_dir import check_run_dir, metrics_to_keep
from signdistill.training.signals import StopRequested, TrainingInterrupted, stopping_on_signals
from signdistill.training.state import LoopState, restore_training_state, seed_everything, training_state

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns: the best dev WER and its epoch, the epochs run, the per-epoch metrics."""

    best_dev_wer: float
    best_epoch: int
    epochs_run: int
    run_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    first_nonblank_step: int | None = None  # first step (checked every 10) whose batch decodes >= 10 % of its glosses


def score_dataset(model: CTCModel, dataset: SignDataset, batch_size: int, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Greedy-decode and score a dataset: WER breakdown, blank rate, hypotheses."""
    hyps = predict(model, dataset, batch_size, device)
    utts = dataset.utterances
    refs = [list(u.glosses) for u in utts]
    hyp_words = [dataset.vocab.decode(h) for h in hyps]
    return score(refs, hyp_words, [u.id for u in utts], [u.signer for u in utts], with_jiwer=False)


class Trainer:
    """Trains a :class:`CTCModel` with an :class:`Objective`; usable from Python.

    Example:
        >>> trainer = Trainer(model, CTCObjective(), train_set, dev_set, cfg, vocab, normalizer)  # doctest: +SKIP
        >>> result = trainer.fit()  # doctest: +SKIP
    """

    def __init__(
        self,
        model: CTCModel,
        objective: Objective,
        train_set: SignDataset,
        dev_set: SignDataset,
        cfg: RunConfig,
        vocab: Vocabulary,
        normalizer: Normalizer,
        *,
        reporter: Reporter | None = None,
        extra_meta: dict[str, Any] | None = None,
    ):
        self.cfg = cfg
        self.device, self.dist = training_device(cfg)
        if self.dist.enabled and not self.dist.is_main:
            reporter = SilentReporter()
        self.model = model.to(self.device)
        if hasattr(self.model, "activation_checkpointing"):
            self.model.activation_checkpointing = cfg.train.activation_checkpointing
        self.train_model: Any = wrap_model(self.model, self.device, self.dist)
        self.objective = objective.to(self.device)
        self.train_set, self.dev_set = train_set, dev_set
        self.vocab, self.normalizer = vocab, normalizer
        self.run_dir = Path(cfg.run_dir)
        self.reporter: Reporter = reporter or LogReporter()
        self.config_dict = cfg.model_dump(mode="json")
        self.extra_meta = extra_meta or {}
        mixed = train_set.label_weights is not None  # unlabeled utterances: a share of them joins each epoch
        self.sampler: Any = training_batches(
            train_set.lengths,
            cfg.data.batch_size,
            cfg.seed,
            cfg.data.bucket,
            self.dist,
            optional_from=train_set.num_labelled if mixed else None,
            optional_per_epoch=train_set.unlabeled_per_epoch,
        )
        # Its own generator: creating an iterator would otherwise draw from the global RNG that
        # dropout uses, and a run resumed mid-epoch would not replay the same dropout masks.
        self.loader = DataLoader(train_set, batch_sampler=self.sampler, collate_fn=collate, generator=torch.Generator())
        params = [p for p in list(self.model.parameters()) + list(self.objective.parameters()) if p.requires_grad]
        self.total_steps = math.ceil(len(self.sampler) / cfg.optim.accumulate) * cfg.train.epochs
        self.optimizer, self.scheduler = build_optimizer(params, cfg.optim, self.total_steps)
        self.amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.train.precision]
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.train.precision == "fp16")
        self.loop = LoopState()  # the counters: epoch, step, best dev WER, early stopping, position in an epoch, ...
        self.metrics_log = MetricsLog(self.run_dir, main=self.dist.is_main)
        self.stop_signal: str | None = None

    # -- state -------------------------------------------------------------------------
    def _stateful_parts(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "scheduler": self.scheduler, "scaler": self.scaler, "objective": self.objective}

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`load_state_dict` needs to continue this run exactly (:mod:`~signdistill.training.state`)."""
        return training_state(self._stateful_parts(), self.loop)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`state_dict` (the global RNGs too); the epochs' history stays as it is."""
        history = self.loop.history
        self.loop = restore_training_state(self._stateful_parts(), state)
        self.loop.history = history

    def _save(self, name: str, metrics: dict[str, Any], with_state: bool) -> None:
        if not self.dist.is_main:
            return
        save_checkpoint(
            self.run_dir / name,
            self.model,
            self.vocab,
            self.normalizer,
            config=self.config_dict,
            meta={"epoch": self.loop.epoch, "step": self.loop.step, "metrics": metrics, **self.extra_meta},
            training_state=self.state_dict() if with_state else None,
        )

    def try_resume(self) -> bool:
        """Resume from ``run_dir/last`` if it exists; returns whether it did."""
        last = self.run_dir / "last"
        state = load_training_state(last)
        if state is None:
            return False
        ckpt = load_checkpoint(last)
        self.model.load_state_dict(ckpt.model.state_dict())
        self.load_state_dict(state)
        loop = self.loop
        hist = self.metrics_log.path
        if hist.exists():
            kept = metrics_to_keep(hist, loop.epoch - (1 if loop.partial else 0), loop.step)
            if self.dist.is_main:
                write_text_atomic(hist, "".join(json.dumps(r) + "\n" for r in kept))
            loop.history = [h for h in kept if h.get("kind") == "epoch"]
        where = f"epoch {loop.epoch}, batch {loop.partial['batch']}" if loop.partial else f"the end of epoch {loop.epoch}"
        log.info("resumed from %s at %s (step %d)", last, where, loop.step)
        return True

    # -- loop --------------------------------------------------------------------------
    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def train_epoch(self) -> dict[str, float]:
        self.model.train()
        self.objective.train()
        self.sampler.set_epoch(self.loop.epoch)
        self.train_set.set_epoch(self.loop.epoch)
        acc = self.cfg.optim.accumulate
        # A run stopped mid-epoch (SIGINT/SIGTERM) resumes at the batch where it stopped,
        # with the sums of the batches already done.
        part = self.loop.partial or {"batch": 0, "sums": {}, "count": 0, "skipped": 0, "frames": 0}
        self.loop.partial = None
        sums: dict[str, float] = dict(part["sums"])
        count, skipped, frames = part["count"], part["skipped"], part["frames"]
        t0 = time.perf_counter()
        n_batches = len(self.sampler)
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(self.loader):
            if i < part["batch"]:
                continue
            if i % acc == 0 and self._stop_requested():
                self.loop.partial = {"batch": i, "sums": sums, "count": count, "skipped": skipped, "frames": frames}
                raise StopRequested
            batch = batch.to(self.device)
            stepping = (i + 1) % acc == 0 or i + 1 == n_batches
            with self._sync(stepping):
                with self._autocast():
                    out = self.objective(self.train_model, batch)
                loss = out.total
                if not self._finite_on_every_rank(loss, i):
                    skipped += 1  # the same on every rank: not summed over ranks below
                    self.optimizer.zero_grad(set_to_none=True)
                    continue
                self.scaler.scale(loss / acc).backward()
            if stepping:
                self._optimizer_step(batch)
            count += 1
            frames += batch.num_frames
            for k, v in out.parts.items():
                sums[k] = sums.get(k, 0.0) + v
            if self.loop.step % self.cfg.train.log_every_steps == 0 and (i + 1) % acc == 0:
                parts = {f"train/{k}": v for k, v in out.parts.items()}
                record = {"kind": "step", "epoch": self.loop.epoch, "step": self.loop.step, "lr": self.scheduler.get_last_lr()[0], **parts}
                self.metrics_log.write(record, self.loop.step)
            self.reporter.step({"loss": out.parts["total"], "frames_per_s": frames / max(time.perf_counter() - t0, 1e-9)})
        return self._epoch_metrics(sums, count, frames, skipped, time.perf_counter() - t0)

    def _epoch_metrics(self, sums: dict[str, float], count: int, frames: int, skipped: int, elapsed: float) -> dict[str, float]:
        """The epoch's mean loss parts (over all ranks), throughput and skipped batches."""
        sums, count, frames = reduce_epoch_sums(sums, count, frames, self.dist)  # metrics over all ranks
        metrics = {f"train/{k}": v / max(count, 1) for k, v in sums.items()}
        metrics["train/frames_per_s"] = frames / max(elapsed, 1e-9)
        metrics["train/seconds"] = elapsed
        metrics["train/skipped_batches"] = skipped
        if count == 0:
            raise SignDistillError(
                f"Every batch of epoch {self.loop.epoch} had a non-finite loss. Lower optim.lr, use "
                "train.precision fp32, or check the features for extreme values."
            )
        return metrics

    def _stop_requested(self) -> bool:
        """A stop signal here or (under DDP) on another rank: the ranks stop together, a lone rank would hang the others."""
        if any_rank(self.stop_signal is not None, self.dist) and self.stop_signal is None:
            self.stop_signal = "a signal to another rank"
        return self.stop_signal is not None

    def _sync(self, stepping: bool) -> AbstractContextManager[Any]:
        """A fresh context per micro-batch: DDP all-reduces gradients only in the backward of a step's last one."""
        return nullcontext() if (stepping or not self.dist.enabled) else self.train_model.no_sync()

    def _finite_on_every_rank(self, loss: torch.Tensor, i: int) -> bool:
        """False when the loss is non-finite here or (under DDP) on any other rank.

        Every rank then skips the micro-batch: a rank skipping its backward alone would leave the
        others waiting in DDP's gradient all-reduce (or pair it with a different collective).
        """
        finite = bool(torch.isfinite(loss))
        if not finite:
            log.warning("epoch %d batch %d: non-finite loss %s, batch skipped", self.loop.epoch, i, float(loss.detach()))
        if any_rank(not finite, self.dist):
            if finite:
                log.warning("epoch %d batch %d: non-finite loss on another rank, batch skipped on every rank", self.loop.epoch, i)
            return False
        return finite

    def _optimizer_step(self, batch: Batch) -> None:
        """Average the objective's own gradients, clip, step, update the scaler and the schedule."""
        average_gradients([p for p in self.objective.parameters() if p.requires_grad], self.dist)
        if self.cfg.optim.grad_clip:
            self.scaler.unscale_(self.optimizer)
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        loop = self.loop
        loop.step += 1
        if loop.first_nonblank_step < 0 and loop.step % NONBLANK_CHECK_EVERY == 0 and decodes_something(self.model, batch):
            loop.first_nonblank_step = loop.step

    def fit(self, *, resume: bool = True, on_epoch_end: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
        """Train until ``train.epochs`` or early stopping; returns the best dev WER."""
        epochs = self.cfg.train.epochs
        self._start_run(resume, epochs)
        try:
            with stopping_on_signals(self):
                while self.loop.epoch < epochs or self.loop.partial:
                    if not self.loop.partial:
                        self.loop.epoch += 1
                    metrics, dev = self._train_and_evaluate(epochs)
                    improved = track_dev(self.loop, dev["wer"], dev["blank_rate"], epochs)
                    metrics["collapse_warning"] = self.loop.blank_streak > 0
                    self._record_epoch(metrics, improved, on_epoch_end)
                    train = self.cfg.train
                    if stop_after_epoch(self.loop, train.collapse_patience, train.early_stopping_patience, dev["blank_rate"], self.run_dir):
                        break
        finally:
            self.metrics_log.close()
        self._end_run(epochs)
        loop = self.loop
        return TrainResult(loop.best_wer, loop.best_epoch, loop.epoch, self.run_dir, loop.history, loop.first_nonblank)

    def _start_run(self, resume: bool, epochs: int) -> None:
        """Check the run folder, resume or seed, open TensorBoard and announce the run."""
        check_run_dir(self.run_dir, self.model.size_bytes() * 4)
        if not (resume and self.try_resume()):
            seed_everything(self.cfg.seed)
            self.metrics_log.path.unlink(missing_ok=True)
        if self.cfg.train.tensorboard:
            self.metrics_log.open_tensorboard()
        start_info = {
            "parameters": self.model.num_parameters(),
            "size_bytes": self.model.size_bytes(),
            "threads": torch.get_num_threads(),
            "device": str(self.device),
            "epochs": epochs,
            "resumed_at_epoch": self.loop.epoch,
        }
        log.info("model: %(parameters)d parameters (%(size_bytes)d bytes fp32), %(threads)d torch threads on %(device)s", start_info)
        call_hook(self.reporter, "run_start", start_info)

    def _train_and_evaluate(self, epochs: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """One epoch of training (saving and raising :class:`TrainingInterrupted` on a stop signal), then dev scoring."""
        extra = self.objective.on_epoch_start(self.loop.epoch)
        self.reporter.epoch_start(self.loop.epoch, epochs, len(self.sampler))
        try:
            train_metrics = self.train_epoch()
        except StopRequested:
            self._save("last", {"interrupted": self.stop_signal}, with_state=True)
            at = self.loop.partial["batch"] if self.loop.partial else 0
            raise TrainingInterrupted(
                f"Training stopped by {self.stop_signal} at epoch {self.loop.epoch}, batch {at}; "
                f"the state was saved to {self.run_dir / 'last'}. Run the same command again to resume "
                "(the run folder is resumed automatically)."
            ) from None
        metrics: dict[str, Any] = {"kind": "epoch", "epoch": self.loop.epoch, **extra, **train_metrics}
        metrics["first_nonblank_step"] = self.loop.first_nonblank
        dev = score_dataset(self.model, self.dev_set, self.cfg.data.eval_batch_size, self.device)
        metrics.update(
            {
                "step": self.loop.step,
                "lr": self.scheduler.get_last_lr()[0],
                "dev/wer": dev["wer"],
                "dev/blank_rate": dev["blank_rate"],
                "dev/sentence_error_rate": dev["sentence_error_rate"],
            }
        )
        return metrics, dev

    def _record_epoch(self, metrics: dict[str, Any], improved: bool, on_epoch_end: Callable[[dict[str, Any]], None] | None) -> None:
        """Log the epoch, save best/ and last/, wait for every rank, report."""
        self.loop.history.append(metrics)
        self.metrics_log.write(metrics, self.loop.step)
        if improved:
            self._save("best", metrics, with_state=False)
        self._save("last", metrics, with_state=True)
        barrier(self.dist)
        self.reporter.epoch_end(metrics)
        if on_epoch_end is not None:
            on_epoch_end(metrics)

    def _end_run(self, epochs: int) -> None:
        """Tell the reporter how the run ended; warn when dev WER was still falling."""
        loop = self.loop
        end_info = {
            "best_epoch": loop.best_epoch,
            "best_dev_wer": loop.best_wer,
            "epochs_run": loop.epoch,
            "epochs": epochs,
            "first_nonblank_step": loop.first_nonblank,
        }
        # A best epoch that is the last one means dev WER was still falling: more epochs would likely help.
        end_info["still_improving"] = loop.best_epoch == loop.epoch and loop.epoch >= epochs and epochs > 1
        if end_info["still_improving"]:
            log.warning("dev WER was still falling at the last epoch (%d): training longer would likely help", loop.epoch)
        call_hook(self.reporter, "run_end", end_info)
