"""Gloss vocabulary with the CTC blank at index 0."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from signdistill.errors import DataError

BLANK = "<blank>"
UNK = "<unk>"


class Vocabulary:
    """Maps glosses to label ids. Index 0 is the CTC blank, index 1 the unknown gloss.

    Example:
        >>> v = Vocabulary.build([["A", "B"], ["B", "C"]])
        >>> v.encode(["B", "C"]), v.decode([3, 2])
        ([3, 4], ['C', 'B'])
    """

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if len(tokens) < 2 or tokens[0] != BLANK or tokens[1] != UNK:
            raise DataError(
                f"A vocabulary must start with {BLANK!r} and {UNK!r}; got {tokens[:2]!r}. "
                "Build it with Vocabulary.build() or load the one saved in a checkpoint."
            )
        if len(set(tokens)) != len(tokens):
            dup = sorted({t for t in tokens if tokens.count(t) > 1})
            raise DataError(f"The vocabulary lists these glosses twice: {dup[:5]}.")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, transcripts: Iterable[Sequence[str]]) -> Vocabulary:
        """Collect every gloss of ``transcripts`` (sorted, so the ids are reproducible)."""
        glosses = sorted({g for t in transcripts for g in t})
        return cls([BLANK, UNK, *[g for g in glosses if g not in (BLANK, UNK)]])

    @property
    def blank(self) -> int:
        return 0

    @property
    def unk(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def encode(self, glosses: Sequence[str]) -> list[int]:
        return [self.index.get(g, self.unk) for g in glosses]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]
