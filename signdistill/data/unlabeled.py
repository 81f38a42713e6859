"""Unlabeled recordings (``data.unlabeled``): a manifest whose utterances need no glosses.

Annotated glosses are the scarce part of sign language data; recordings are not. A
distillation run can learn from recordings without glosses through every term that needs
no label and through the teacher's transcripts (hard pseudo-labels). This module reads such
a manifest; :mod:`signdistill.training.unlabeled` labels it with the teacher.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from signdistill.data.manifest import Utterance, manifest_entries
from signdistill.errors import DataError


def read_unlabeled_manifest(path: str | os.PathLike[str], *, labelled_ids: set[str] | None = None) -> list[Utterance]:
    """Read a manifest of recordings for ``data.unlabeled``: ``id`` and ``features`` per line.

    A ``gloss`` field, if present, is ignored (the utterance gets no glosses), so a labelled
    manifest can stand in to measure what labels are worth. ``signer`` is kept. An id that is
    also in the labelled training split (``labelled_ids``) is refused: the same recording
    would be trained on twice, once with its glosses.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"Unlabeled manifest {path} (data.unlabeled) is a folder; give the JSONL manifest file in it.")
    if not path.is_file():
        raise DataError(f"Unlabeled manifest {path} (data.unlabeled) does not exist. Check the path in your config.")
    utterances: list[Utterance] = []
    for _where, entry in manifest_entries(path, gloss_required=False):
        if isinstance(entry, str):
            raise DataError(entry)
        signer = entry.get("signer")
        utterances.append(Utterance(id=entry["id"], features=entry["path"], glosses=(), signer=None if signer is None else str(signer)))
    if not utterances:
        raise DataError(f"Unlabeled manifest {path} (data.unlabeled) has no utterances.")
    if labelled_ids:
        both = [u.id for u in utterances if u.id in labelled_ids]
        if both:
            raise DataError(
                f"Unlabeled manifest {path} (data.unlabeled) repeats {len(both)} id(s) of the training manifest, e.g. "
                f"{both[:3]}. An utterance is either labelled or not: remove them from one of the two manifests."
            )
    return utterances


def refuse_held_out_recordings(unlabeled: Sequence[Utterance], held_out: Mapping[str, Sequence[Utterance] | None], source: Any) -> None:
    """Raise if an utterance of a held-out split (by id or by feature file) is among the ``unlabeled`` ones."""
    extra = {u.id for u in unlabeled} | {str(Path(u.features).resolve()) for u in unlabeled}  # ids and recordings
    for name, utts in held_out.items():
        both = sorted(u.id for u in utts if {u.id, str(Path(u.features).resolve())} & extra) if utts is not None else []
        if both:
            raise DataError(
                f"data.unlabeled ({source}) holds {len(both)} utterance(s) of {name}, e.g. {both[:3]}: they would be trained "
                f"on while {name} measures the model. Remove them from the unlabeled manifest (or point data.unlabeled elsewhere)."
            )
