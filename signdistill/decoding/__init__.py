"""CTC decoding.

``greedy_decode`` needs torch and is imported on first use, so the beam search
(``signdistill.decoding.beam``, numpy only), ``decode_hypotheses``, ``decode_log_probs`` and
``collapse_ids`` run without torch (``decode_logits`` takes torch tensors and imports torch when
called). Decoders return a :class:`CTCHypothesis` per utterance (label ids, glosses, score, frames).
"""

from typing import TYPE_CHECKING, Any

from signdistill.decoding.collapse import collapse_ids
from signdistill.decoding.decode import decode_hypotheses, decode_log_probs, decode_logits
from signdistill.decoding.hypothesis import CTCHypothesis, greedy_hypothesis

if TYPE_CHECKING:
    from signdistill.decoding.greedy import greedy_decode


def __getattr__(name: str) -> Any:
    if name == "greedy_decode":
        from signdistill.decoding.greedy import greedy_decode

        return greedy_decode
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CTCHypothesis", "collapse_ids", "decode_hypotheses", "decode_log_probs", "decode_logits", "greedy_decode", "greedy_hypothesis"]
