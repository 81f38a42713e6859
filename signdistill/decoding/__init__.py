"""CTC decoding.

``greedy_decode`` needs torch and is imported on first use, so the beam search
(``signdistill.decoding.beam``, numpy only) runs without torch.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from signdistill.decoding.greedy import greedy_decode


def __getattr__(name: str) -> Any:
    if name == "greedy_decode":
        from signdistill.decoding.greedy import greedy_decode

        return greedy_decode
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["greedy_decode"]
