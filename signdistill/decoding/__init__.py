"""CTC decoding."""

from signdistill.decoding.decode import decode_logits
from signdistill.decoding.greedy import greedy_decode

__all__ = ["decode_logits", "greedy_decode"]
