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


OTHER_DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs"}


def _check_delimiter(header_line: str, path: Path) -> None:
    """Refuse a header separated by something other than ``|`` (a CSV re-saved by a spreadsheet)."""
    if "|" in header_line:
        return
    delim = max(OTHER_DELIMITERS, key=header_line.count)
    if header_line.count(delim):
        raise DataError(
            f"{path}, line 1: the header {header_line.strip()!r} is separated by {OTHER_DELIMITERS[delim]}, not '|'. "
            "PHOENIX/CSL-Daily annotation files are pipe-separated (e.g. 'id|folder|signer|annotation'); "
            "re-save the file with '|' between fields."
        )


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
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(
            f"Annotation file {path} is not UTF-8 ({exc}). PHOENIX and CSL-Daily files are "
            "UTF-8; convert it with `iconv -f <encoding> -t utf-8`."
        ) from None
    if not lines:
        raise DataError(f"Annotation file {path} is empty.")
    _check_delimiter(lines[0], path)
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


SPLITS = ("train", "dev", "test")


def is_imported_corpus(path: str | os.PathLike[str]) -> bool:
    """True for a folder written by :func:`import_corpus` (its skipped.json holds the import report)."""
    import json

    try:
        report = json.loads((Path(path) / "skipped.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(report, dict)
        and bool(report)
        and all(isinstance(r, dict) and {"annotations", "written", "skipped"} <= set(r) for r in report.values())
    )


def import_corpus(
    annotations: str | os.PathLike[str],
    features_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    suffix: str = ".npy",
) -> dict[str, dict]:
    """Turn a PHOENIX-2014 / -T / CSL-Daily annotation folder plus features into manifests.

    ``annotations`` is a folder holding one pipe-separated file per split (its name contains
    ``train``, ``dev`` or ``test``, e.g. ``train.corpus.csv`` or ``PHOENIX-2014-T.dev.corpus.csv``),
    or a single such file. Features are looked up as ``features_dir/<split>/<id><suffix>``,
    then ``features_dir/<id><suffix>``. Writes ``out/<split>.jsonl`` and ``out/skipped.json``;
    returns, per split, the number written and the skipped ids with their reasons.
    """
    import json

    from signdistill.data.manifest import write_manifest
    from signdistill.io import write_text_atomic

    ann = Path(annotations)
    files = [ann] if ann.is_file() else sorted(p for p in ann.iterdir() if p.is_file()) if ann.is_dir() else []
    if not files:
        raise DataError(f"{ann} is neither an annotation file nor a folder of them.")
    by_split: dict[str, Path] = {}
    for f in files:
        name = f.name.lower()
        for split in SPLITS:
            if f".{split}." in f".{name}." or name.startswith(f"{split}.") or f".{split}." in name:
                by_split.setdefault(split, f)
    if not by_split:
        raise DataError(
            f"No annotation file in {ann} names a split (train, dev or test), e.g. train.corpus.csv or PHOENIX-2014-T.train.corpus.csv."
        )
    feats = Path(features_dir)
    if not feats.is_dir():
        what = "is not a folder" if feats.exists() else "does not exist"
        raise DataError(f"Features folder {feats} {what} (--features). Nothing was written; give the folder holding <id>{suffix}.")
    report: dict[str, dict] = {}
    manifests = {}
    for split, f in sorted(by_split.items()):  # every file is read before --out is created: an error leaves nothing behind
        split_dir = feats / split if (feats / split).is_dir() else feats
        manifests[split], skipped = read_corpus(f, split_dir, suffix=suffix)
        report[split] = {"annotations": str(f), "written": len(manifests[split]), "skipped": [{"id": i, "reason": r} for i, r in skipped]}
    if not any(manifests.values()):
        first = next((r["skipped"][0] for r in report.values() if r["skipped"]), None)
        why = f"the first skipped, {first['id']}: {first['reason']}" if first else "the annotation files hold no utterances"
        raise DataError(
            f"No utterance of {ann} could be imported ({why}). Nothing was written; "
            f"check --features ({feats}: features are looked up as <split>/<id>{suffix}, then <id>{suffix}) and --suffix."
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for split, utts in manifests.items():
        if utts:
            write_manifest(out / f"{split}.jsonl", utts)
    write_text_atomic(out / "skipped.json", json.dumps(report, indent=2) + "\n")
    return report


def import_corpus_to(
    annotations: str | os.PathLike[str],
    features_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    suffix: str = ".npy",
    overwrite: bool = False,
) -> dict[str, dict]:
    """:func:`import_corpus` into ``out`` as ``signdistill data import-phoenix`` does it.

    ``out`` must be new, empty, or (with ``overwrite``) a previous import; a previous import's
    manifest that this import does not rewrite (a split now without utterances) is removed.
    """
    import json

    from signdistill.io import check_output_path, refuse_output_clashes

    out = Path(out)
    refuse_output_clashes([("--out", out)], [("--annotations", annotations), ("--features", features_dir)])
    replacing = check_output_path(out, kind="corpus import", overwrite=overwrite, is_ours=is_imported_corpus)
    previous = json.loads((out / "skipped.json").read_text(encoding="utf-8")) if replacing else {}
    report = import_corpus(annotations, features_dir, out, suffix=suffix)
    for split, r in previous.items():  # a manifest of the previous import that this one did not rewrite
        if r["written"] and not report.get(split, {}).get("written"):
            (out / f"{split}.jsonl").unlink(missing_ok=True)
    return report
