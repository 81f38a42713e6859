"""The run folder: refuse a folder holding another run, resume the same one, check the disk.

Nothing here trains; the pipelines call :func:`prepare_run_dir` before building anything and
:func:`start_run_dir` once everything is built, and the Trainer calls :func:`check_run_dir` (and
:func:`metrics_to_keep` when it resumes).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from signdistill.config import RunConfig, dump_config
from signdistill.errors import ConfigError, SignDistillError
from signdistill.inference import resolve_device
from signdistill.io import write_text_atomic

# Settings that cannot change a run's result: a run resumes across them (train.device too, when resuming).
NO_EFFECT_SETTINGS = ("train.threads", "train.progress", "train.tensorboard", "train.log_every_steps")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differing_settings(previous: dict[str, Any], current: dict[str, Any], *, resuming: bool) -> list[str]:
    """Dotted keys whose values differ, less the settings that cannot change the result."""
    ignore = set(NO_EFFECT_SETTINGS) | ({"train.device"} if resuming else set())
    a, b = _flat(previous), _flat(current)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and k not in ignore)


def _run_started(run_dir: Path) -> bool:
    """True once training wrote anything besides config.yaml (an older version wrote it before validating)."""
    return any(p.name != "config.yaml" and not p.name.startswith(".") for p in run_dir.iterdir())


def prepare_run_dir(cfg: RunConfig, *, overwrite: bool = False) -> bool:
    """Check the run folder before anything is built; return True if it holds this same run to resume.

    Nothing is written here: :func:`start_run_dir` writes ``config.yaml`` (and, with
    ``overwrite``, deletes the previous run) once the data, model and objective have been
    built, so a config that fails validation leaves the folder as it was. A folder holding a
    *different* run (another config) is refused unless ``overwrite``; settings that cannot
    change the result (:data:`NO_EFFECT_SETTINGS`, and ``train.device`` when resuming) may
    differ. Under torchrun only rank 0 checks the folder; the other ranks resume from
    whatever it holds once the process group has formed (after rank 0 has started the run).
    """
    if int(os.environ.get("RANK", "0")) != 0:
        return True
    # Settings the Trainer would refuse, checked now so that nothing is written for them.
    device = resolve_device(cfg.train.device)
    if cfg.train.precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision is 'fp16', which needs a CUDA device (fp16 with a GradScaler). On CPU use 'bf16' or 'fp32'.")
    run_dir = Path(cfg.run_dir)
    existed = run_dir.exists()
    check_run_dir(run_dir, 0)
    saved = run_dir / "config.yaml"
    if not (existed and any(run_dir.iterdir())):
        return False
    if not saved.is_file():  # never deleted, --overwrite or not: it may hold anything
        raise ConfigError(
            f"Run folder {run_dir} exists and is not a signdistill run (no config.yaml). Nothing was changed; pick a new "
            "run_dir (--set run_dir=...). --overwrite only replaces an earlier signdistill run."
        )
    if overwrite:
        return False
    if not _run_started(run_dir):  # only a config.yaml: no run ever started here
        return False
    previous = yaml.safe_load(saved.read_text(encoding="utf-8"))
    try:  # re-validate, so fields added in later versions take their defaults
        previous = type(cfg).model_validate(previous).model_dump(mode="json")
    except Exception:  # noqa: BLE001 - an unreadable old config is simply "different"
        previous = previous if isinstance(previous, dict) else {}
    resuming = (run_dir / "last").exists()
    changed = differing_settings(previous, cfg.model_dump(mode="json"), resuming=resuming)
    if changed:
        shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
        raise ConfigError(
            f"Run folder {run_dir} already holds a different run (settings that differ: {shown}). "
            "Pick a new run_dir (--set run_dir=...), or pass --overwrite to delete the old run."
        )
    return resuming


def start_run_dir(cfg: RunConfig, *, overwrite: bool = False) -> None:
    """The run starts: with ``overwrite`` delete the previous run, then write the resolved config.

    Call after :func:`prepare_run_dir` and once everything the run needs has been built and
    validated, before the Trainer (whose process group makes the other torchrun ranks wait).
    """
    if int(os.environ.get("RANK", "0")) != 0:
        return
    run_dir = Path(cfg.run_dir)
    if overwrite and run_dir.exists() and any(run_dir.iterdir()):
        if not (run_dir / "config.yaml").is_file():  # prepare_run_dir refused this; never delete a foreign folder
            raise ConfigError(f"Run folder {run_dir} is not a signdistill run; refusing to delete it.")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", dump_config(cfg))


def check_run_dir(run_dir: Path, needed_bytes: int) -> None:
    """Fail before training when the run folder cannot be written or the disk is nearly full.

    Also removes temporary folders a killed save left behind.
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise SignDistillError(
            f"Run folder {run_dir} cannot be written ({exc.strerror or exc}). Choose another run_dir "
            "(--set run_dir=...) or fix its permissions."
        ) from None
    free = shutil.disk_usage(run_dir).free
    if free < needed_bytes:
        raise SignDistillError(
            f"Only {free / 1e6:.1f} MB free on the disk of {run_dir}, but checkpoints of this model need about "
            f"{needed_bytes / 1e6:.1f} MB. Free some space or choose another run_dir."
        )
    for stale in run_dir.glob(".*.tmp"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def metrics_to_keep(path: Path, done_epoch: int, step: int) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` a resumed run keeps: up to its last checkpoint (``done_epoch``, ``step``)."""
    # Drop what a killed run logged after its last checkpoint: it will be redone.
    records = []
    for x in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(json.loads(x))
        except json.JSONDecodeError:
            continue  # a line cut short by the kill
    return [r for r in records if (r.get("epoch", 0) <= done_epoch) or (r.get("kind") == "step" and r.get("step", 0) <= step)]
