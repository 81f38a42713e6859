"""The JSONL manifest: one utterance per line.

``{"id": "utt-1", "features": "feats/utt-1.npy", "gloss": "A B C", "signer": "s1"}``

``features`` is a float32 ``.npy`` array of shape ``[T, D]``, relative to the manifest's
folder (or absolute). ``signer`` is optional.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signdistill.errors import DataError

REQUIRED_FIELDS = ("id", "features", "gloss")


@dataclass(frozen=True)
class Utterance:
    """One utterance: an id, its feature file, its gloss sequence and optional signer."""

    id: str
    features: Path
    glosses: tuple[str, ...]
    signer: str | None = None


def min_ctc_frames(glosses: tuple[str, ...] | list[str]) -> int:
    """Frames CTC needs for a transcript: one per gloss, plus a blank between repeats."""
    repeats = sum(1 for a, b in zip(glosses, glosses[1:]) if a == b)
    return len(glosses) + repeats


def _escapes(relative: Path) -> bool:
    """True when a relative path climbs out of its base folder (``../x``, ``a/../../x``); judged on the
    path's text, so a symlinked features folder inside the dataset still counts as inside."""
    parts = Path(os.path.normpath(relative)).parts
    return bool(parts) and parts[0] == ".."


def manifest_entries(path: Path, *, gloss_required: bool) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """Each non-empty line of a JSONL manifest as ``(where, entry)``, or ``(where, error message)``
    for a bad line (the caller raises or collects it). A valid entry gets ``path``: its feature
    file resolved against the manifest's folder. Unreadable files are one error for the file."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        yield str(path), f"Manifest {path} is not UTF-8 text or cannot be read ({exc}). Re-save it as UTF-8."
        return
    whole = _whole_document_error(path, lines)
    if whole is not None:
        yield str(path), whole
        return
    fields = REQUIRED_FIELDS if gloss_required else ("id", "features")
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {lineno}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            yield (
                where,
                (
                    f"{where} is not valid JSON ({exc.msg}). Each line must be one JSON object like "
                    '{"id": "utt-1", "features": "feats/utt-1.npy", "gloss": "A B C"}.'
                ),
            )
            continue
        error = _entry_error(entry, where, fields, seen, gloss_required)
        if error is None:
            seen[entry["id"]] = lineno
            feats = Path(entry["features"])
            entry["path"] = feats if feats.is_absolute() else path.parent / feats
        yield where, error if error is not None else entry


def _whole_document_error(path: Path, lines: list[str]) -> str | None:
    """One message for a file of pretty-printed JSON (one document, an array, or several objects
    one after another as `jq` writes them without -c), not JSON Lines: otherwise every one of its
    lines would be reported as invalid JSON."""
    nonblank = [line for line in lines if line.strip()]
    if len(nonblank) < 2:
        return None
    try:
        json.loads(nonblank[0])
        return None  # the first line is a JSON value by itself: a JSON Lines file
    except json.JSONDecodeError:
        pass
    text, docs, pos, decoder = "\n".join(lines), [], 0, json.JSONDecoder()
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            break
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None  # not JSON at all: the per-line messages say where
        docs.append(doc)
    if len(docs) == 1 and isinstance(docs[0], list):
        kind, fix = "an array", "`jq -c '.[]' in.json > out.jsonl`"
    elif len(docs) == 1 and isinstance(docs[0], dict) and not {"id", "features"} <= set(docs[0]):
        inner = [k for k, v in docs[0].items() if isinstance(v, list)]
        kind = "one JSON object over several lines"
        fix = f"`jq -c '.{inner[0]}[]' in.json > out.jsonl`" if len(inner) == 1 else "`jq -c '.<list field>[]' in.json > out.jsonl`"
    else:
        kind = "one JSON document over several lines" if len(docs) == 1 else f"{len(docs)} JSON documents over several lines each"
        fix = "`jq -c . in.json > out.jsonl`"
    return f"{path} is {kind}, not JSON Lines: a manifest holds one JSON object per line. Rewrite it with one object per line (e.g. {fix})."


def _entry_error(entry: Any, where: str, fields: tuple[str, ...], seen: dict[str, int], gloss_required: bool) -> str | None:
    if not isinstance(entry, dict):
        hint = (
            " (a whole manifest as one array? write one object per line: `jq -c '.[]' in.json > out.jsonl`)"
            if isinstance(entry, list)
            else ""
        )
        return f"{where} holds a JSON {type(entry).__name__}, not an object{hint}."
    missing = [f for f in fields if f not in entry]
    if missing:
        optional = "'signer' is optional" if gloss_required else "'gloss' and 'signer' are optional here"
        return f"{where} lacks the field(s) {missing}. Every line needs {list(fields)}; {optional}."
    for field in fields:
        if not isinstance(entry[field], str):
            return f"{where}: field {field!r} must be a string, got {entry[field]!r}."
    if gloss_required and not entry["gloss"].split():
        return f"{where}: utterance {entry['id']!r} has an empty 'gloss'. Give it its gloss sequence or remove the line."
    if entry["id"] in seen:
        return f"{where}: id {entry['id']!r} already appears on line {seen[entry['id']]}. Ids must be unique within a manifest."
    feats = Path(entry["features"])
    if not feats.is_absolute() and _escapes(feats):
        return (
            f"{where}: the feature path {entry['features']!r} leads outside the manifest's folder, so it was "
            "not read. Relative feature paths must stay inside the manifest's folder; give an absolute path for "
            "features kept elsewhere (docs/data.md)."
        )
    return None


def read_manifest(path: str | os.PathLike[str]) -> list[Utterance]:
    """Read a JSONL manifest; raise :class:`DataError` naming the line of any bad entry."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"Manifest {path} does not exist. Check the path (in your config or on the command line), or create the "
            "embedded dataset with `signdistill data synth --out DIR`."
        )
    utterances: list[Utterance] = []
    for _where, entry in manifest_entries(path, gloss_required=True):
        if isinstance(entry, str):
            raise DataError(entry)
        signer = entry.get("signer")
        utterances.append(
            Utterance(
                id=entry["id"],
                features=entry["path"],
                glosses=tuple(entry["gloss"].split()),
                signer=None if signer is None else str(signer),
            )
        )
    if not utterances:
        raise DataError(f"Manifest {path} has no utterances.")
    return utterances


def manifest_problems(path: str | os.PathLike[str]) -> list[str]:
    """Every bad line of a manifest (invalid JSON, a missing field, an empty gloss, each repeated id), in order.

    :func:`read_manifest` stops at the first; ``data check`` lists them all.
    """
    return [entry for _where, entry in manifest_entries(Path(path), gloss_required=True) if isinstance(entry, str)]


def write_manifest(path: str | os.PathLike[str], utterances: list[Utterance]) -> None:
    """Write utterances as JSONL with feature paths relative to the manifest's folder."""
    from signdistill.io import write_text_atomic

    path = Path(path)
    lines = []
    for u in utterances:
        try:
            feats = os.path.relpath(u.features, path.parent)
        except ValueError:  # another drive on Windows
            feats = str(Path(u.features).absolute())
        if _escapes(Path(feats)):  # read_manifest only follows relative paths inside the folder
            feats = str(Path(u.features).absolute())
        entry = {"id": u.id, "features": feats, "gloss": " ".join(u.glosses)}
        if u.signer is not None:
            entry["signer"] = u.signer
        lines.append(json.dumps(entry))
    write_text_atomic(path, "\n".join(lines) + "\n")


def load_features(path: Path, *, expect_dim: int | None = None, context: str = "") -> np.ndarray:
    """Load a ``[T, D]`` float feature array safely (never unpickles) and validate it."""
    where = f" ({context})" if context else ""
    if not path.is_file():
        raise DataError(f"Feature file {path}{where} does not exist. Fix the 'features' path.")
    if path.suffix.lower() == ".pose":  # pose-format keypoints, read with the default feature spec
        from signdistill.data.pose import pose_to_features

        arr = pose_to_features(path)
        if expect_dim is not None and arr.shape[1] != expect_dim:
            raise DataError(f"Feature file {path}{where} gives {arr.shape[1]} dimensions per frame, but the dataset uses {expect_dim}.")
        return arr
    save_hint = "Save features with numpy.save(path, array.astype('float32'))."
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise DataError(f"Feature file {path}{where} cannot be opened ({exc.strerror}).") from None
    if magic != b"\x93NUMPY":
        raise DataError(f"Feature file {path}{where} is not a readable .npy array: it does not start with numpy's .npy header. {save_hint}")
    try:
        arr = np.load(path, allow_pickle=False)  # never unpickle: a .npy of Python objects can run code
    except ValueError as exc:
        # numpy's own message suggests allow_pickle=True; signdistill never loads pickled data
        what = "holds Python objects (pickled data), which signdistill never loads" if "pickle" in str(exc) else "is truncated or corrupt"
        raise DataError(f"Feature file {path}{where} is not a readable .npy array: it {what}. {save_hint}") from None
    except (OSError, EOFError):
        raise DataError(f"Feature file {path}{where} is not a readable .npy array: it is truncated or corrupt. {save_hint}") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2:
        shape = getattr(arr, "shape", None)
        raise DataError(
            f"Feature file {path}{where} has shape {shape}; expected a 2-D array [T, D] "
            "(frames x feature dimensions). Flatten keypoints to [T, points*coords]."
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"Feature file {path}{where} has dtype {arr.dtype}; expected float32.")
    if expect_dim is not None and arr.shape[1] != expect_dim:
        raise DataError(
            f"Feature file {path}{where} has {arr.shape[1]} dimensions per frame, but the "
            f"dataset (or model) uses {expect_dim}. All utterances must share one D."
        )
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise DataError(
            f"Feature file {path}{where} holds NaN or inf in {bad} of {arr.shape[0]} frames. "
            "Fill missing keypoints (e.g. interpolate or zero them) before training."
        )
    return arr.astype(np.float32, copy=False)
