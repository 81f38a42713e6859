"""CTC decoding."""

from signdistill.decoding.decode import decode_logits
from signdistill.decoding.greedy import collapse_ids, greedy_decode

__all__ = ["collapse_ids", "decode_logits", "greedy_decode"]
