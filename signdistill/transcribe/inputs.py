"""The inputs of ``signdistill transcribe``: feature files, folders of them, JSONL manifests."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signdistill.data.manifest import load_features
from signdistill.errors import DataError

FEATURE_SUFFIXES = (".npy", ".pose")
MANIFEST_SUFFIXES = (".jsonl",)


@dataclass(frozen=True)
class InputFile:
    """One utterance to transcribe: its output id and its feature file."""

    id: str
    path: Path
    context: str = ""  # where it was listed (a manifest's line), for messages


@dataclass(frozen=True)
class Failure:
    """An input that could not be transcribed: one line that names the file and the fix."""

    path: str
    message: str


def _manifest_inputs(path: Path) -> tuple[list[InputFile], list[Failure]]:
    """The utterances of a JSONL manifest; ``gloss`` is optional, a bad line is one failure."""
    from signdistill.data.manifest import manifest_entries

    items: list[InputFile] = []
    failures: list[Failure] = []
    for where, entry in manifest_entries(path, gloss_required=False):
        if isinstance(entry, str):
            failures.append(Failure(where, entry))
        else:
            items.append(InputFile(entry["id"], entry["path"], f"utterance {entry['id']!r} of {path}"))
    if not items and not failures:
        failures.append(Failure(str(path), f"{path} lists no utterances; add one JSON object per line."))
    return items, failures


def _folder_inputs(folder: Path) -> tuple[list[InputFile], list[Failure]]:
    """The feature files of a folder (suffixes in any case: ``A.NPY`` too); an entry named like one
    that is not a readable file (a broken symbolic link, a folder) is a failure, never skipped silently."""
    named = sorted(f for f in folder.iterdir() if f.suffix.lower() in FEATURE_SUFFIXES)
    items = [InputFile(f.stem, f) for f in named if f.is_file()]
    failures = []
    for f in named:
        if f.is_symlink() and not f.exists():
            failures.append(Failure(str(f), f"{f} is a broken symbolic link (to {os.readlink(f)}); fix or remove the link."))
        elif not f.is_file():
            failures.append(Failure(str(f), f"{f} is named like a feature file but is not a file; rename or remove it."))
    if not named:
        failures.append(Failure(str(folder), f"{folder} holds no .npy or .pose files; point at the feature files or at their folder."))
    return items, failures


def collect_inputs(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[InputFile], list[Failure]]:
    """Expand the command's inputs: ``.npy`` / ``.pose`` files, folders of them (sorted, not
    recursive; suffixes in any case) and JSONL manifests. A file's id is its name without the
    suffix (its path where two inputs share a name). Inputs that cannot be used, a folder's
    broken symbolic links included, become :class:`Failure` s."""
    items: list[InputFile] = []
    failures: list[Failure] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            got, bad = _folder_inputs(p)
            items += got
            failures += bad
        elif p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file():
            got, bad = _manifest_inputs(p)
            items += got
            failures += bad
        elif p.suffix.lower() in FEATURE_SUFFIXES:
            items.append(InputFile(p.stem, p))  # a missing file fails when it is read, in its turn
        elif not p.exists():
            failures.append(Failure(str(p), f"{p} does not exist; check the path."))
        else:
            failures.append(Failure(str(p), f"{p} is not a .npy or .pose feature file, a folder of them, or a .jsonl manifest."))
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.id in seen:
            item = InputFile(str(item.path.with_suffix("")), item.path, item.context)
        seen.add(item.id)
        unique.append(item)
    return unique, failures


def _read(item: InputFile, dim: int) -> np.ndarray:
    """Load one input's ``[T, D]`` features; :class:`DataError` with a one-line fix otherwise."""
    if not item.path.is_file():
        where = f" ({item.context})" if item.context else ""
        raise DataError(f"{item.path}{where} does not exist; check the path.")
    try:
        arr = load_features(item.path, context=item.context)
    except DataError as exc:
        msg = str(exc)
        if "not a readable .pose file" in msg:
            msg += " Write it again with pose-format, or leave it out."
        raise DataError(msg) from None
    if arr.shape[0] == 0:
        raise DataError(f"{item.path} has no frames (shape {tuple(arr.shape)}); extract its features again or leave it out.")
    if arr.shape[1] != dim:
        how = "read with the default pose feature spec" if item.path.suffix.lower() == ".pose" else "in the file"
        raise DataError(
            f"{item.path} has {arr.shape[1]} features per frame ({how}), but the model expects {dim}; "
            "extract them the way the model's training features were made (same keypoints, same order)."
        )
    return arr
