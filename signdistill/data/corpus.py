"""Readers for PHOENIX-2014, PHOENIX-2014-T and CSL-Daily style annotation files.

These corpora ship pipe-separated annotation files with a header, e.g. PHOENIX-2014's
``id|folder|signer|annotation`` or PHOENIX-2014-T's ``name|video|start|end|speaker|orth|...``.
Features are expected as one ``.npy`` array per utterance, ``<features_dir>/<id>.npy``.
"""

from __future__ import annotations

import os
from pathlib import Path

from signdistill.data.manifest import Utterance
from signdistill.errors import DataError

# Column aliases across the corpora.
ID_COLUMNS = ("id", "name")
SIGNER_COLUMNS = ("signer", "speaker")
GLOSS_COLUMNS = ("annotation", "orth", "gloss")


def _column(header: list[str], aliases: tuple[str, ...], path: Path, required: bool) -> int | None:
    for name in aliases:
        if name in header:
            return header.index(name)
    if required:
        raise DataError(
            f"{path}, line 1: the header {'|'.join(header)!r} has none of the columns "
            f"{list(aliases)}. Expected a PHOENIX/CSL-Daily style header such as "
            "'id|folder|signer|annotation'."
        )
    return None


def read_corpus(
    annotation_file: str | os.PathLike[str],
    features_dir: str | os.PathLike[str],
    *,
    suffix: str = ".npy",
) -> tuple[list[Utterance], list[tuple[str, str]]]:
    """Pair an annotation file with per-utterance feature files.

    Returns the utterances found and a list of ``(id, reason)`` for the ones skipped
    (feature file missing or empty annotation).
    """
    path = Path(annotation_file)
    features_dir = Path(features_dir)
    if not path.is_file():
        raise DataError(f"Annotation file {path} does not exist.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(
            f"Annotation file {path} is not UTF-8 ({exc}). PHOENIX and CSL-Daily files are "
            "UTF-8; convert it with `iconv -f <encoding> -t utf-8`."
        ) from None
    if not lines:
        raise DataError(f"Annotation file {path} is empty.")
    header = [h.strip().lower() for h in lines[0].split("|")]
    id_col = _column(header, ID_COLUMNS, path, required=True)
    gloss_col = _column(header, GLOSS_COLUMNS, path, required=True)
    signer_col = _column(header, SIGNER_COLUMNS, path, required=False)
    assert id_col is not None and gloss_col is not None
    utterances: list[Utterance] = []
    skipped: list[tuple[str, str]] = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("|")
        if len(cells) != len(header):
            raise DataError(f"{path}, line {lineno}: {len(cells)} fields, but the header has {len(header)}.")
        uid = cells[id_col].strip()
        glosses = tuple(cells[gloss_col].split())
        feats = features_dir / f"{uid}{suffix}"
        if not glosses:
            skipped.append((uid, "empty annotation"))
            continue
        if not feats.is_file():
            skipped.append((uid, f"no feature file {feats}"))
            continue
        signer = cells[signer_col].strip() if signer_col is not None else None
        utterances.append(Utterance(id=uid, features=feats, glosses=glosses, signer=signer))
    return utterances, skipped
