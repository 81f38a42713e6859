"""Where transcripts go: a file that is written atomically, never onto an input, never over another file silently."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from signdistill.io import atomic_path, check_file_output, refuse_output_clashes


def _glosses(line: str) -> list[str] | None:
    """The glosses of one line in a format ``transcribe`` writes (text, ctm, jsonl), or None when it is none of them."""
    import json
    import re

    if m := re.fullmatch(r"[^\t]+\t([^\t]*)", line):  # text: id<TAB>GLOSS GLOSS ...
        return m.group(1).split()
    parts = line.split()
    if len(parts) == 6 and parts[1] == "1" and all(re.fullmatch(r"\d+\.\d+", x) for x in (parts[2], parts[3], parts[5])):
        return [parts[4]]  # ctm: id 1 start duration GLOSS confidence
    try:
        obj = json.loads(line)
        return [g["gloss"] for g in obj["glosses"]] if set(obj) == {"id", "glosses"} else None
    except (ValueError, TypeError, KeyError):
        return None


def own_transcript(path: Path, vocabulary: set[str] | None = None) -> bool:
    """True for a file ``transcribe`` could have written: every line in one of its formats and, given the model's
    ``vocabulary``, every gloss one of its tokens (a user's two-column TSV has words the model does not know)."""
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, ValueError):
        return False
    found = [_glosses(ln) for ln in lines]
    return all(g is not None and (vocabulary is None or set(g) <= vocabulary) for g in found)


class TranscriptFile:
    """The open output of :func:`transcript_file`: ``write(text)`` and how many writes it took."""

    def __init__(self, file: TextIO):
        self.file, self.written = file, 0

    def write(self, text: str) -> None:
        self.file.write(text)
        self.written += 1


class _NothingWritten(Exception):
    """No transcript was written: abandon the temporary file instead of renaming it into place."""


@contextmanager
def transcript_file(
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[tuple[str, str | os.PathLike[str] | None]] = (),
    vocabulary: set[str] | None = None,
) -> Iterator[TranscriptFile]:
    """Write transcripts to ``out``: a temporary file renamed into place at the end.

    Refused before anything is written when ``out`` exists (unless ``overwrite``) or when it is
    one of ``inputs`` (``(label, path)`` pairs: the model, the feature files, the manifests),
    ``overwrite`` or not. When nothing was written (every input failed) ``out`` is left as it
    was, so that the retry is not blocked by an empty file.

    Example:
        >>> with transcript_file("out.txt", inputs=[("input", "a.npy")]) as f:  # doctest: +SKIP
        ...     f.write("a\\tHELLO\\n")
    """
    check_transcript_file(out, overwrite=overwrite, inputs=inputs, vocabulary=vocabulary)
    try:
        with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as f:
            sink = TranscriptFile(f)
            yield sink
            f.flush()
            if sink.written == 0:
                raise _NothingWritten
    except _NothingWritten:
        pass


def check_transcript_file(
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[tuple[str, str | os.PathLike[str] | None]] = (),
    vocabulary: set[str] | None = None,
) -> None:
    """The refusals of :func:`transcript_file`, alone: call it before the model loads (nothing is created).

    With ``overwrite`` an existing ``out`` is replaced only if it is a transcript (:func:`own_transcript`; with the
    model's ``vocabulary``, of glosses it knows).
    """
    refuse_output_clashes([("--out", out)], inputs)
    check_file_output(out, "--out", overwrite, lambda p: own_transcript(p, vocabulary), "a transcript")


def output_inputs(
    model: Path, items: Iterable[Path], *, lm: Path | None = None, decoder_config: Path | None = None
) -> Iterator[tuple[str, Path | None]]:
    """The ``(label, path)`` pairs a transcript file must not replace: the model folder's files, the LM, every input."""
    yield "--lm", lm
    yield "--decoder-config", decoder_config
    if model.is_dir():
        yield from (("--model", p) for p in model.iterdir())
    yield from (("input", p) for p in items)
