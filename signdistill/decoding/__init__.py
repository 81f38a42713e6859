"""CTC decoding.

``greedy_decode`` and ``decode_logits`` need torch and are imported on first use, so the beam
search (``signdistill.decoding.beam``, numpy only) and ``collapse_ids`` run without torch.
"""

from typing import TYPE_CHECKING, Any

from signdistill.decoding.collapse import collapse_ids

if TYPE_CHECKING:
    from signdistill.decoding.decode import decode_logits
    from signdistill.decoding.greedy import greedy_decode


def __getattr__(name: str) -> Any:
    if name == "greedy_decode":
        from signdistill.decoding.greedy import greedy_decode

        return greedy_decode
    if name == "decode_logits":
        from signdistill.decoding.decode import decode_logits

        return decode_logits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["collapse_ids", "decode_logits", "greedy_decode"]
