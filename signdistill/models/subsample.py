"""Temporal subsampling front end: the CNN-then-pool shape of CSLR models, exact on padded batches.

Video CSLR networks (VAC, SMKD, CorrNet, TwoStream-SLR) reduce time by 4 with two blocks of
a kernel-5 temporal convolution and a max pool of 2 ("K5-P2" twice) before their sequence
model. :class:`TemporalSubsampler` is that block repeated ``log2(stride)`` times. Each block
sees exactly what the utterance alone would see: padded frames are zeroed before the
convolution (as the convolution's own zero padding would be at the utterance's end) and set
to ``-inf`` before the pool (a window cut by the end of the utterance pools its real frames
only, as ``ceil_mode`` does at the end of a lone sequence). An utterance of ``L`` frames
leaves a block with ``ceil(L / 2)`` frames, so no utterance shrinks to 0 frames.
"""

from __future__ import annotations

import torch
from torch import nn

STRIDES = (1, 2, 4)


def _frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]  # (B, T)


def subsampled_lengths(lengths: torch.Tensor, stride: int) -> torch.Tensor:
    """Frames per utterance after a :class:`TemporalSubsampler` of ``stride``: ``ceil`` halving per block."""
    out = lengths
    for _ in range(_blocks(stride)):
        out = torch.div(out + 1, 2, rounding_mode="floor")
    return out


def _blocks(stride: int) -> int:
    if stride not in STRIDES:
        raise ValueError(f"temporal_stride must be one of {STRIDES}; got {stride!r}")
    return stride.bit_length() - 1


class TemporalSubsampler(nn.Module):
    """``(B, T, C) -> (B, ceil(T / stride), C)``: ``log2(stride)`` x (Conv1d k5 + ReLU + MaxPool 2)."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size=5, padding=2) for _ in range(_blocks(stride)))
        self.pool = nn.MaxPool1d(2, ceil_mode=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: x ``(B, T, C)``, lengths ``(B,)``. Returns ``(B, T_out, C)`` and the new lengths ``(B,)``."""
        for conv in self.convs:
            mask = _frame_mask(lengths, x.shape[1])[..., None]  # (B, T, 1)
            y = torch.relu(conv(x.masked_fill(~mask, 0.0).transpose(1, 2)))  # (B, C, T)
            y = y.masked_fill(~mask.transpose(1, 2), float("-inf"))
            x = self.pool(y).transpose(1, 2)  # (B, ceil(T/2), C)
            lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
            x = x.masked_fill(~_frame_mask(lengths, x.shape[1])[..., None], 0.0)
        return x, lengths
