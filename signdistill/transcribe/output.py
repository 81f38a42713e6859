"""Where transcripts go: a file that is written atomically, never onto an input, never over another file silently."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from signdistill.io import atomic_path, check_file_output, own_lines, refuse_output_clashes

_TEXT_OR_CTM = own_lines(r"[^\t]+\t[^\t]*", r"\S+ 1 \d+\.\d{3} \d+\.\d{3} \S+ \d+\.\d{4}")  # text, ctm
_JSONL_LINE = own_lines(r"\{\"id\": .*, \"glosses\": \[.*\]\}")  # jsonl


def _own_transcript(path: Path) -> bool:
    """A file ``transcribe`` wrote in one of its formats (text, ctm, jsonl)."""
    return _TEXT_OR_CTM(path) or _JSONL_LINE(path)


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
    check_transcript_file(out, overwrite=overwrite, inputs=inputs)
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
    out: str | os.PathLike[str], *, overwrite: bool = False, inputs: Iterable[tuple[str, str | os.PathLike[str] | None]] = ()
) -> None:
    """The refusals of :func:`transcript_file`, alone: call it before the model loads (nothing is created)."""
    refuse_output_clashes([("--out", out)], inputs)
    check_file_output(out, "--out", overwrite, _own_transcript, "a transcript")


def output_inputs(
    model: Path, items: Iterable[Path], *, lm: Path | None = None, decoder_config: Path | None = None
) -> Iterator[tuple[str, Path | None]]:
    """The ``(label, path)`` pairs a transcript file must not replace: the model folder's files, the LM, every input."""
    yield "--lm", lm
    yield "--decoder-config", decoder_config
    if model.is_dir():
        yield from (("--model", p) for p in model.iterdir())
    yield from (("input", p) for p in items)
