"""The run folder: refuse a folder holding another run, resume the same one, lock it, check the disk.

Nothing here trains; the pipelines call :func:`prepare_run_dir` before building anything and
:func:`start_run_dir` once everything is built, and the Trainer calls :func:`check_run_dir` (and
:func:`metrics_to_keep` when it resumes). A run folder holds only what :func:`is_run_file`
recognises; ``--overwrite`` deletes only that, and refuses (naming them) when anything else is there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from signdistill.config import RunConfig, dump_config
from signdistill.errors import ConfigError, SignDistillError
from signdistill.inference import resolve_device
from signdistill.io import refuse_unexpected, write_text_atomic

# Settings that cannot change a run's result: a run resumes across them (train.device too, when resuming).
NO_EFFECT_SETTINGS = ("train.threads", "train.progress", "train.tensorboard", "train.log_every_steps")


# Everything a run writes in its folder (the Trainer, compare's per-run files), as paths relative to it.
_RUN_FILE = re.compile(
    r"config\.yaml|metrics\.jsonl|compare_run\.json|compare_beam\.json|decoder\.json"
    r"|(best|last)(\.old)?/(checkpoint\.json|model\.safetensors|training_state\.pt)"
    r"|tensorboard/events\.out\.tfevents\.[^/]+"
    r"|\.[^/]*\.tmp(/.+)?|(best|last)(\.old)?/\.[^/]*\.tmp|\.write-test-[^/]*"
)
# The entries of a run folder that --overwrite deletes (after checking that nothing else is inside them).
_RUN_ENTRY = re.compile(
    r"config\.yaml|metrics\.jsonl|compare_run\.json|compare_beam\.json|decoder\.json|(best|last)(\.old)?|tensorboard|\..*\.tmp"
)


# The first line of the config.yaml a run writes: how a run folder's config.yaml is told from a user's own file.
CONFIG_HEADER = "# signdistill: the resolved config of the run in this folder (written by signdistill; edit your own config instead)\n"


def _our_config(saved: Path) -> bool:
    """True if ``saved`` (a run folder's config.yaml) was written by signdistill: it starts with :data:`CONFIG_HEADER`,
    or (written before the header existed) it is a machine dump of a resolved config (no comments, no hand layout)."""
    text = saved.read_text(encoding="utf-8", errors="replace")
    if text.startswith(CONFIG_HEADER):
        return True
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    if not (isinstance(loaded, dict) and yaml.safe_dump(loaded, sort_keys=False) == text):
        return False
    # A resolved dump lists every default, which a hand-written config does not (these fields date from 0.1).
    data, model = loaded.get("data"), loaded.get("model")
    return (
        {"run_dir", "seed", "data", "model", "optim", "train"} <= set(loaded)
        and isinstance(data, dict)
        and {"eval_batch_size", "bucket"} <= set(data)
        and isinstance(model, dict)
        and "preset" in model
    )


def _refuse_foreign_config(run_dir: Path) -> None:
    raise ConfigError(
        f"Run folder {run_dir} holds a config.yaml that signdistill did not write (your own config?). Nothing was changed; "
        "a run writes its resolved config there, so pick a new run_dir (--set run_dir=...) or move your file out."
    )


def is_run_file(rel: str) -> bool:
    """True for a path (relative to a run folder, ``/``-separated) that a training run writes there."""
    return _RUN_FILE.fullmatch(rel) is not None


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differing_settings(previous: dict[str, Any], current: dict[str, Any], *, resuming: bool) -> list[str]:
    """Dotted keys whose values differ, less the settings that cannot change the result.

    ``run_dir`` never counts (the folder being checked is the run, wherever it now lies or however its path is
    spelled), and two strings naming the same path (``runs/x`` and ``/home/me/runs/x``) are the same value.
    """
    ignore = set(NO_EFFECT_SETTINGS) | {"run_dir"} | ({"train.device"} if resuming else set())
    a, b = _flat(previous), _flat(current)
    return sorted(k for k in set(a) | set(b) if not _same_value(a.get(k), b.get(k)) and k not in ignore)


def _same_value(a: Any, b: Any) -> bool:
    """Equal, or the same once every string in it is read as a path (teachers' checkpoints sit in a list)."""
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        return os.path.realpath(os.path.expanduser(a)) == os.path.realpath(os.path.expanduser(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    return False


def _run_started(run_dir: Path) -> bool:
    """True once training wrote anything besides config.yaml (an older version wrote it before validating)."""
    return any(p.name != "config.yaml" and not p.name.startswith(".") for p in run_dir.iterdir())


def prepare_run_dir(cfg: RunConfig, *, overwrite: bool = False) -> bool:
    """Check (and lock) the run folder before anything is built; return True if it holds this same run to resume.

    Nothing is written here, and a missing run folder is not created: :func:`start_run_dir`
    creates it, writes ``config.yaml`` (and, with ``overwrite``, deletes the previous run) once
    the data, model and objective have been built, so a config that fails validation leaves the
    folder as it was. A folder holding a *different* run (another config) is refused unless
    ``overwrite``; settings that cannot change the result (:data:`NO_EFFECT_SETTINGS`, and
    ``train.device`` when resuming) may differ. ``overwrite`` deletes only what a run writes
    (:func:`is_run_file`): a folder that also holds other files is refused, naming them. An
    existing folder is locked (:func:`lock_run_dir`) so that a second training started into it
    is refused. Under torchrun only rank 0 checks the folder; the other ranks resume from
    whatever it holds once the process group has formed (after rank 0 has started the run).
    """
    if int(os.environ.get("RANK", "0")) != 0:
        return True
    # Settings the Trainer would refuse, checked now so that nothing is written for them.
    device = resolve_device(cfg.train.device)
    if cfg.train.precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision is 'fp16', which needs a CUDA device (fp16 with a GradScaler). On CPU use 'bf16' or 'fp32'.")
    run_dir = Path(cfg.run_dir)
    if not run_dir.is_dir():
        _check_can_create(run_dir)
        return False
    check_run_dir(run_dir, 0)
    lock_run_dir(run_dir)
    return _check_previous_run(cfg, run_dir, overwrite)


def _check_previous_run(cfg: RunConfig, run_dir: Path, overwrite: bool) -> bool:
    """What an existing run folder holds: refuse another run (or, with ``overwrite``, files not ours); True to resume."""
    saved = run_dir / "config.yaml"
    if not _has_entries(run_dir):
        return False
    if not saved.is_file():  # never deleted, --overwrite or not: it may hold anything
        raise ConfigError(
            f"Run folder {run_dir} exists and is not a signdistill run (no config.yaml). Nothing was changed; pick a new "
            "run_dir (--set run_dir=...). --overwrite only replaces an earlier signdistill run."
        )
    if not _our_config(saved):
        _refuse_foreign_config(run_dir)
    if overwrite:
        refuse_unexpected(run_dir, is_run_file, "run")
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


def _has_entries(run_dir: Path) -> bool:
    """Anything in the folder besides the stale temporary files :func:`check_run_dir` clears."""
    return any(not re.fullmatch(r"\..*\.tmp|\.write-test-.*", p.name) for p in run_dir.iterdir())


def start_run_dir(cfg: RunConfig, *, overwrite: bool = False) -> None:
    """The run starts: create and lock the folder, with ``overwrite`` delete the previous run, write the resolved config.

    Call after :func:`prepare_run_dir` and once everything the run needs has been built and
    validated, before the Trainer (whose process group makes the other torchrun ranks wait).
    Only the previous run's own files are deleted (:func:`is_run_file`); the check is repeated
    here, under the lock, for files added since :func:`prepare_run_dir`.
    """
    if int(os.environ.get("RANK", "0")) != 0:
        return
    run_dir = Path(cfg.run_dir)
    newly_locked = not _held(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock_run_dir(run_dir)
    if newly_locked and _has_entries(run_dir) and not overwrite:  # another process started a run here meanwhile
        raise ConfigError(
            f"Run folder {run_dir} was empty when this run was prepared, and another training has written to it since. "
            "Nothing was changed; run the same command again (it resumes that run if it is the same), or pick another run_dir."
        )
    if overwrite and _has_entries(run_dir):
        if not (run_dir / "config.yaml").is_file():  # prepare_run_dir refused this; never delete a foreign folder
            raise ConfigError(f"Run folder {run_dir} is not a signdistill run; refusing to delete it.")
        if not _our_config(run_dir / "config.yaml"):
            _refuse_foreign_config(run_dir)
        refuse_unexpected(run_dir, is_run_file, "run")
        for entry in run_dir.iterdir():
            if not _RUN_ENTRY.fullmatch(entry.name):
                continue  # e.g. an empty folder of the user's: nothing of ours is in it
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    if (run_dir / "config.yaml").is_file() and not _our_config(run_dir / "config.yaml"):
        _refuse_foreign_config(run_dir)  # written since prepare_run_dir
    write_text_atomic(run_dir / "config.yaml", CONFIG_HEADER + dump_config(cfg))


# Run folders this process holds locked: resolved path -> (descriptor of the folder, its inode).
_LOCKS: dict[str, tuple[int, int]] = {}


def _held(run_dir: Path) -> bool:
    entry = _LOCKS.get(str(run_dir.resolve()))
    try:
        return entry is not None and os.stat(run_dir).st_ino == entry[1]
    except OSError:
        return False


def lock_run_dir(run_dir: str | os.PathLike[str]) -> None:
    """Lock the run folder for this process, so that a second training started into it is refused.

    An advisory ``flock`` on the folder itself (no lock file is written): the system releases it
    when the process ends, however it ends, so a killed run never leaves a stale lock behind and
    its resume starts at once. Taking the lock again in the same process is a no-op; a process
    holds one run folder at a time (locking another releases the previous one). Where ``fcntl``
    does not exist (Windows) nothing is locked.
    """
    run_dir = Path(run_dir)
    if _held(run_dir):
        return
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return
    release_run_dirs()
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ConfigError(
            f"Run folder {run_dir} is in use: another signdistill process is training in it right now. Nothing was changed; "
            "wait for it to finish (then run the same command again to resume), or pick another run_dir (--set run_dir=...)."
        ) from None
    _LOCKS[str(run_dir.resolve())] = (fd, os.fstat(fd).st_ino)


def release_run_dirs() -> None:
    """Release every run folder lock this process holds (training in them has finished)."""
    while _LOCKS:
        fd, _ = _LOCKS.popitem()[1]
        os.close(fd)  # closing the descriptor releases its flock


def _check_can_create(run_dir: Path) -> None:
    """Fail before anything is built when the missing run folder could not be created (nothing is created here)."""
    parent = run_dir
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        why = "is not a folder" if not parent.is_dir() else "is not writable"
        raise SignDistillError(
            f"Run folder {run_dir} cannot be written ({parent} {why}). Choose another run_dir (--set run_dir=...) or fix its permissions."
        )


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
