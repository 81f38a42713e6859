"""The CTC collapse of one best path, in plain Python (no torch: the beam search and ONNX paths use it too)."""

from __future__ import annotations

from collections.abc import Iterable


def collapse_ids(ids: Iterable[int], *, blank: int = 0) -> list[int]:
    """The CTC collapse of one best path: merge repeated ids, then drop blanks.

    Example:
        >>> collapse_ids([0, 1, 1, 0, 1, 2, 2, 0])
        [1, 1, 2]
    """
    out: list[int] = []
    prev = None
    for i in ids:
        if i != prev and i != blank:
            out.append(i)
        prev = i
    return out
