"""The Trainer: AdamW + warm-up/decay, AMP, accumulation, clipping, checkpoints, resume."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch
from torch.utils.data import DataLoader

from signdistill.checkpoint import load_checkpoint, load_training_state, save_checkpoint
from signdistill.config import RunConfig
from signdistill.data.dataset import Batch, BucketBatchSampler, SignDataset, collate
from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary
from signdistill.decoding import greedy_decode
from signdistill.errors import ConfigError, SignDistillError
from signdistill.evaluation.scoring import score
from signdistill.inference import predict, resolve_device
from signdistill.io import write_text_atomic
from signdistill.models import CTCModel
from signdistill.training.distributed import DistInfo, all_reduce_sum, average_gradients, barrier, init_from_env, shard_batch
from signdistill.training.objectives import Objective
from signdistill.training.run_dir import check_run_dir

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Receives progress; the CLI renders it with rich, the library only logs."""

    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None: ...
    def step(self, metrics: dict[str, float]) -> None: ...
    def epoch_end(self, metrics: dict[str, Any]) -> None: ...


NONBLANK_CHECK_EVERY = 10


def _call_hook(reporter: Any, name: str, info: dict[str, Any]) -> None:
    """Call an optional reporter hook (``run_start``/``run_end``) when the reporter has it."""
    hook = getattr(reporter, name, None)
    if callable(hook):
        hook(info)


class _SilentReporter:
    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        pass

    def step(self, metrics: dict[str, float]) -> None:
        pass

    def epoch_end(self, metrics: dict[str, Any]) -> None:
        pass


class _ShardedBatches:
    """This rank's share of every global batch (global batches too small to share are skipped)."""

    def __init__(self, inner: BucketBatchSampler, info: DistInfo):
        self.inner, self.info = inner, info

    def set_epoch(self, epoch: int) -> None:
        self.inner.set_epoch(epoch)

    def _global(self) -> list[list[int]]:
        return [b for b in self.inner.batches() if len(b) >= self.info.world_size]

    def __iter__(self) -> Any:
        return iter([shard_batch(b, self.info) for b in self._global()])

    def __len__(self) -> int:
        return len(self._global())


class _LogReporter(_SilentReporter):
    def epoch_end(self, metrics: dict[str, Any]) -> None:
        log.info("epoch %s: %s", metrics.get("epoch"), {k: v for k, v in metrics.items() if k != "epoch"})


class _StopRequested(Exception):
    """Raised inside the epoch loop at a safe point after SIGINT/SIGTERM."""


class TrainingInterrupted(SignDistillError):
    """The run was stopped by a signal after saving its state; rerunning resumes it."""

    exit_code = 130


def _install_stop_handlers(trainer: Trainer) -> dict[int, Any]:
    """SIGINT/SIGTERM ask the trainer to stop at the next safe point and save (main thread only)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        if trainer.stop_signal is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        trainer.stop_signal = signal.Signals(signum).name
        log.warning("%s received: saving a checkpoint at the next batch boundary", trainer.stop_signal)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_stop_handlers(previous: dict[int, Any]) -> None:
    import signal

    for sig, h in previous.items():
        signal.signal(sig, h)


class CollapseError(SignDistillError):
    """The model decodes the dev set to blank only, evaluation after evaluation."""


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns: the best dev WER and its epoch, the epochs run, the per-epoch metrics."""

    best_dev_wer: float
    best_epoch: int
    epochs_run: int
    run_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    first_nonblank_step: int | None = None  # first step (checked every 10) whose batch decodes >= 10 % of its glosses


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_lambda(step: int, warmup: int, total: int, schedule: str, min_ratio: float) -> float:
    """Multiplier of the peak lr at optimizer step ``step`` (0-based)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(max(step - warmup, 0) / max(total - warmup, 1), 1.0)
    if schedule == "linear":
        return 1.0 - (1.0 - min_ratio) * progress
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def score_dataset(model: CTCModel, dataset: SignDataset, batch_size: int, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Greedy-decode and score a dataset: WER breakdown, blank rate, hypotheses."""
    hyps, _ = predict(model, dataset, batch_size, device)
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
        self.device = resolve_device(cfg.train.device)
        if cfg.train.precision == "fp16" and self.device.type != "cuda":
            raise ConfigError("train.precision is 'fp16', which needs a CUDA device (fp16 with a GradScaler). On CPU use 'bf16' or 'fp32'.")
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        self.dist = init_from_env(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        if self.dist.enabled and not self.dist.is_main:
            reporter = _SilentReporter()
        self.model = model.to(self.device)
        if hasattr(self.model, "activation_checkpointing"):
            self.model.activation_checkpointing = cfg.train.activation_checkpointing
        self.train_model: Any = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.train_model = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.objective = objective.to(self.device)
        self.train_set, self.dev_set = train_set, dev_set
        self.vocab, self.normalizer = vocab, normalizer
        self.run_dir = Path(cfg.run_dir)
        self.reporter: Reporter = reporter or _LogReporter()
        self.config_dict = cfg.model_dump(mode="json")
        self.extra_meta = extra_meta or {}
        # Under torchrun every rank draws the same global batches (batch_size x world size)
        # and keeps its share, so N processes see what one process with the global batch sees.
        self.sampler: Any = BucketBatchSampler(
            train_set.lengths, cfg.data.batch_size * self.dist.world_size, shuffle=True, seed=cfg.seed, bucket=cfg.data.bucket
        )
        if self.dist.enabled:
            self.sampler = _ShardedBatches(self.sampler, self.dist)
        # Its own generator: creating an iterator would otherwise draw from the global RNG that
        # dropout uses, and a run resumed mid-epoch would not replay the same dropout masks.
        self.loader = DataLoader(train_set, batch_sampler=self.sampler, collate_fn=collate, generator=torch.Generator())
        params = [p for p in list(self.model.parameters()) + list(self.objective.parameters()) if p.requires_grad]
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        steps_per_epoch = math.ceil(len(self.sampler) / o.accumulate)
        self.total_steps = steps_per_epoch * cfg.train.epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_lambda(s, o.warmup_steps, self.total_steps, o.schedule, o.min_lr_ratio),
        )
        self.amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.train.precision]
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.train.precision == "fp16")
        self.epoch = 0
        self.step = 0
        self.best_wer = float("inf")
        self.best_epoch = 0
        self.bad_epochs = 0
        self.blank_streak = 0
        self.first_nonblank_step = -1  # first optimizer step whose batch decodes 10 % of its glosses (-1: not yet)
        self.history: list[dict[str, Any]] = []
        self._tb: Any = None
        self.partial: dict[str, Any] | None = None  # position inside an interrupted epoch
        self.stop_signal: str | None = None

    # -- state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "objective": self.objective.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "rng_numpy": cast(tuple, np.random.get_state())[1].astype(np.int64).tolist(),
            "rng_numpy_pos": int(cast(tuple, np.random.get_state())[2]),
            "rng_python": json.dumps(random.getstate()),
            "epoch": self.epoch,
            "step": self.step,
            "best_wer": self.best_wer,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "blank_streak": self.blank_streak,
            "first_nonblank_step": self.first_nonblank_step,
            "partial": json.dumps(self.partial),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.objective.load_state_dict(state["objective"])
        torch.set_rng_state(state["rng_torch"])
        if state["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        np.random.set_state(("MT19937", np.array(state["rng_numpy"], dtype=np.uint32), state["rng_numpy_pos"], 0, 0.0))
        py = json.loads(state["rng_python"])
        random.setstate((py[0], tuple(py[1]), py[2]))
        for key in ("epoch", "step", "best_wer", "best_epoch", "bad_epochs", "blank_streak"):
            setattr(self, key, state[key])
        self.partial = json.loads(state.get("partial", "null"))
        self.first_nonblank_step = int(state.get("first_nonblank_step", -1))

    def _save(self, name: str, metrics: dict[str, Any], with_state: bool) -> None:
        if not self.dist.is_main:
            return
        save_checkpoint(
            self.run_dir / name,
            self.model,
            self.vocab,
            self.normalizer,
            config=self.config_dict,
            meta={"epoch": self.epoch, "step": self.step, "metrics": metrics, **self.extra_meta},
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
        hist = self.run_dir / "metrics.jsonl"
        if hist.exists():
            # Drop what a killed run logged after its last checkpoint: it will be redone.
            records = []
            for x in hist.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    records.append(json.loads(x))
                except json.JSONDecodeError:
                    continue  # a line cut short by the kill
            done = self.epoch - (1 if self.partial else 0)
            kept = [r for r in records if (r.get("epoch", 0) <= done) or (r.get("kind") == "step" and r.get("step", 0) <= self.step)]
            if self.dist.is_main:
                write_text_atomic(hist, "".join(json.dumps(r) + "\n" for r in kept))
            self.history = [h for h in kept if h.get("kind") == "epoch"]
        where = f"epoch {self.epoch}, batch {self.partial['batch']}" if self.partial else f"the end of epoch {self.epoch}"
        log.info("resumed from %s at %s (step %d)", last, where, self.step)
        return True

    # -- logging -----------------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("epoch", "step"):
                    self._tb.add_scalar(k, v, record.get("step", self.step))

    def _open_tensorboard(self) -> None:
        if not self.cfg.train.tensorboard or not self.dist.is_main:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.debug("tensorboard not installed; logging to metrics.jsonl only")
            return
        self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    # -- loop --------------------------------------------------------------------------
    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    @torch.no_grad()
    def _decodes_something(self, batch: Any) -> bool:
        """Whether greedy decoding of this batch recognizes at least 10 % of its reference glosses.

        Counts matches of the sclite alignment, so the random non-blank output of a freshly
        initialised model does not count (it is followed by an all-blank plateau before CTC
        learns). Runs in eval mode: no dropout, no random numbers drawn, exact resume holds.
        """
        from signdistill.evaluation.wer import align_counts

        self.model.eval()
        try:
            out = self.model(batch.features, batch.lengths)
        finally:
            self.model.train()
        hyps = greedy_decode(out.logits, out.lengths)
        refs = torch.split(batch.targets.cpu(), batch.target_lengths.cpu().tolist())
        correct = total = 0
        for ref, hyp in zip(refs, hyps):
            r = ref.tolist()
            sub, dele, _ = align_counts(r, hyp)
            correct, total = correct + len(r) - sub - dele, total + len(r)
        return total > 0 and correct >= 0.1 * total

    def train_epoch(self) -> dict[str, float]:
        self.model.train()
        self.objective.train()
        self.sampler.set_epoch(self.epoch)
        self.train_set.set_epoch(self.epoch)
        acc = self.cfg.optim.accumulate
        # A run stopped mid-epoch (SIGINT/SIGTERM) resumes at the batch where it stopped,
        # with the sums of the batches already done.
        part = self.partial or {"batch": 0, "sums": {}, "count": 0, "skipped": 0, "frames": 0}
        self.partial = None
        sums: dict[str, float] = dict(part["sums"])
        count, skipped, frames = part["count"], part["skipped"], part["frames"]
        t0 = time.perf_counter()
        n_batches = len(self.sampler)
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(self.loader):
            if i < part["batch"]:
                continue
            if i % acc == 0 and self._stop_requested():
                self.partial = {"batch": i, "sums": sums, "count": count, "skipped": skipped, "frames": frames}
                raise _StopRequested
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
            if self.step % self.cfg.train.log_every_steps == 0 and (i + 1) % acc == 0:
                parts = {f"train/{k}": v for k, v in out.parts.items()}
                self._log({"kind": "step", "epoch": self.epoch, "step": self.step, "lr": self.scheduler.get_last_lr()[0], **parts})
            self.reporter.step({"loss": out.parts["total"], "frames_per_s": frames / max(time.perf_counter() - t0, 1e-9)})
        elapsed = time.perf_counter() - t0
        if self.dist.enabled:  # metrics over all ranks
            keys = sorted(sums)
            reduced = all_reduce_sum([sums[k] for k in keys] + [count, frames], self.dist)
            sums = dict(zip(keys, reduced[: len(keys)]))
            count, frames = int(reduced[-2]), int(reduced[-1])
        metrics = {f"train/{k}": v / max(count, 1) for k, v in sums.items()}
        metrics["train/frames_per_s"] = frames / max(elapsed, 1e-9)
        metrics["train/seconds"] = elapsed
        metrics["train/skipped_batches"] = skipped
        if count == 0:
            raise SignDistillError(
                f"Every batch of epoch {self.epoch} had a non-finite loss. Lower optim.lr, use "
                "train.precision fp32, or check the features for extreme values."
            )
        return metrics

    def _stop_requested(self) -> bool:
        """A stop signal here or (under DDP) on another rank: the ranks stop together, a lone rank would hang the others."""
        if self.dist.enabled and all_reduce_sum([1.0 if self.stop_signal else 0.0], self.dist)[0] > 0 and self.stop_signal is None:
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
            log.warning("epoch %d batch %d: non-finite loss %s, batch skipped", self.epoch, i, float(loss.detach()))
        if self.dist.enabled and all_reduce_sum([0.0 if finite else 1.0], self.dist)[0] > 0:
            if finite:
                log.warning("epoch %d batch %d: non-finite loss on another rank, batch skipped on every rank", self.epoch, i)
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
        self.step += 1
        if self.first_nonblank_step < 0 and self.step % NONBLANK_CHECK_EVERY == 0 and self._decodes_something(batch):
            self.first_nonblank_step = self.step

    def fit(self, *, resume: bool = True, on_epoch_end: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
        """Train until ``train.epochs`` or early stopping; returns the best dev WER."""
        check_run_dir(self.run_dir, self.model.size_bytes() * 4)
        if not (resume and self.try_resume()):
            seed_everything(self.cfg.seed)
            (self.run_dir / "metrics.jsonl").unlink(missing_ok=True)
        self._open_tensorboard()
        epochs = self.cfg.train.epochs
        start_info = {
            "parameters": self.model.num_parameters(),
            "size_bytes": self.model.size_bytes(),
            "threads": torch.get_num_threads(),
            "device": str(self.device),
            "epochs": epochs,
            "resumed_at_epoch": self.epoch,
        }
        log.info("model: %(parameters)d parameters (%(size_bytes)d bytes fp32), %(threads)d torch threads on %(device)s", start_info)
        _call_hook(self.reporter, "run_start", start_info)
        previous = _install_stop_handlers(self)
        try:
            while self.epoch < epochs or self.partial:
                if not self.partial:
                    self.epoch += 1
                extra = self.objective.on_epoch_start(self.epoch)
                self.reporter.epoch_start(self.epoch, epochs, len(self.sampler))
                try:
                    train_metrics = self.train_epoch()
                except _StopRequested:
                    self._save("last", {"interrupted": self.stop_signal}, with_state=True)
                    at = self.partial["batch"] if self.partial else 0
                    raise TrainingInterrupted(
                        f"Training stopped by {self.stop_signal} at epoch {self.epoch}, batch {at}; "
                        f"the state was saved to {self.run_dir / 'last'}. Run the same command again to resume "
                        "(the run folder is resumed automatically)."
                    ) from None
                metrics: dict[str, Any] = {"kind": "epoch", "epoch": self.epoch, **extra, **train_metrics}
                metrics["first_nonblank_step"] = self.first_nonblank_step if self.first_nonblank_step >= 0 else None
                dev = score_dataset(self.model, self.dev_set, self.cfg.data.eval_batch_size, self.device)
                metrics.update(
                    {
                        "step": self.step,
                        "lr": self.scheduler.get_last_lr()[0],
                        "dev/wer": dev["wer"],
                        "dev/blank_rate": dev["blank_rate"],
                        "dev/sentence_error_rate": dev["sentence_error_rate"],
                    }
                )
                improved = dev["wer"] < self.best_wer
                if improved:
                    self.best_wer, self.best_epoch, self.bad_epochs = dev["wer"], self.epoch, 0
                else:
                    self.bad_epochs += 1
                # A model that decoded something before and now decodes only blanks, or one
                # still all-blank past a third of training, has collapsed (a known KD failure).
                all_blank = dev["blank_rate"] >= 0.95
                late = self.epoch > max(2, epochs // 3)
                self.blank_streak = self.blank_streak + 1 if (all_blank and (late or self.best_wer < 95.0)) else 0
                metrics["collapse_warning"] = self.blank_streak > 0
                if self.blank_streak:
                    log.warning("epoch %d: %.0f%% of dev utterances decode to blank only", self.epoch, 100 * dev["blank_rate"])
                self.history.append(metrics)
                self._log(metrics)
                if improved:
                    self._save("best", metrics, with_state=False)
                self._save("last", metrics, with_state=True)
                barrier(self.dist)
                self.reporter.epoch_end(metrics)
                if on_epoch_end is not None:
                    on_epoch_end(metrics)
                patience = self.cfg.train.collapse_patience
                if patience and self.blank_streak >= patience:
                    raise CollapseError(
                        f"Training collapsed to blank: {100 * dev['blank_rate']:.0f}% of dev utterances decode "
                        f"to nothing for {self.blank_streak} evaluations in a row (epoch {self.epoch}). For "
                        "distillation this usually means the KD term overwhelms CTC: lower the temperature, "
                        "use distill.blank_mode 'drop', add distill.ctc_warmup_epochs, or raise loss.ctc. "
                        f"Checkpoints so far are in {self.run_dir}."
                    )
                if self.cfg.train.early_stopping_patience and self.bad_epochs >= self.cfg.train.early_stopping_patience:
                    log.info("early stopping at epoch %d (best %.2f at epoch %d)", self.epoch, self.best_wer, self.best_epoch)
                    break
        finally:
            _restore_stop_handlers(previous)
            if self._tb is not None:
                self._tb.close()
        end_info = {
            "best_epoch": self.best_epoch,
            "best_dev_wer": self.best_wer,
            "epochs_run": self.epoch,
            "epochs": epochs,
            "first_nonblank_step": self.first_nonblank_step if self.first_nonblank_step >= 0 else None,
        }
        # A best epoch that is the last one means dev WER was still falling: more epochs would likely help.
        end_info["still_improving"] = self.best_epoch == self.epoch and self.epoch >= epochs and epochs > 1
        if end_info["still_improving"]:
            log.warning("dev WER was still falling at the last epoch (%d): training longer would likely help", self.epoch)
        _call_hook(self.reporter, "run_end", end_info)
        first = self.first_nonblank_step if self.first_nonblank_step >= 0 else None
        return TrainResult(self.best_wer, self.best_epoch, self.epoch, self.run_dir, self.history, first)
