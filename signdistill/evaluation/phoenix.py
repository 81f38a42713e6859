"""PHOENIX-2014 style gloss clean-up, as the corpus's official evaluation applies it.

Published PHOENIX-2014 WERs are computed by the corpus's sclite scripts after these
rewrites of both reference and hypothesis: prefixes ``loc-``, ``cl-``, ``qu-``, ``poss-``,
``lh-`` are stripped; ``__EMOTION__``, ``__PU__``, ``__LEFTHAND__``, ``__EPENTHESIS__`` and
other ``__X__`` tags are dropped; ``-PLUSPLUS`` suffixes and a ``RAUM`` suffix after a
capitalised stem are removed; some spellings are unified (``S0NNE``, ``HABEN2``); some
compounds are merged (``WIE AUSSEHEN`` -> ``WIE-AUSSEHEN``, ``ZEIGEN`` ->
``ZEIGEN-BILDSCHIRM``, spelled single letters joined with ``+``); and immediate repeats
of a gloss are collapsed. Raw string WER on PHOENIX is not comparable with the literature.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_PREFIX = re.compile(r"\b(?:loc-|cl-|qu-|poss-|lh-)")
_TAGS = re.compile(r"__[^_ ]*__")
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bS0NNE\b"), "SONNE"),
    (re.compile(r"\bHABEN2\b"), "HABEN"),
    (re.compile(r"-PLUSPLUS\b"), ""),
    (re.compile(r"\b([A-Z][A-Z]+)RAUM\b"), r"\1"),
    (re.compile(r"\bWIE AUSSEHEN\b"), "WIE-AUSSEHEN"),
    (re.compile(r"\bZEIGEN\b(?!-)"), "ZEIGEN-BILDSCHIRM"),
    # Spelled letters: "A B C" -> "A+B+C" (and SCH / NN count as letters).
    (re.compile(r"(?<![\w+-])((?:[A-Z]|SCH|NN)) (?=(?:[A-Z]|SCH|NN)(?![\w-]))"), r"\1+"),
]


def phoenix_cleanup(glosses: Sequence[str]) -> list[str]:
    """Apply the PHOENIX-2014 evaluation rewrites to one gloss sequence.

    Example:
        >>> phoenix_cleanup(["__ON__", "loc-NORD", "REGEN", "REGEN", "cl-KOMMEN", "S0NNE", "__EMOTION__", "A", "B"])
        ['NORD', 'REGEN', 'KOMMEN', 'SONNE', 'A+B']
    """
    s = " ".join(glosses)
    s = _TAGS.sub(" ", s)
    s = _PREFIX.sub("", s)
    s = re.sub(r"\s+", " ", s).strip()
    for pattern, repl in _RULES:
        s = pattern.sub(repl, s)
    out: list[str] = []
    for g in s.split():
        if not out or out[-1] != g:
            out.append(g)
    return out
