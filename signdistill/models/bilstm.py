"""BiLSTM CTC models whose output for an utterance does not depend on its batch.

A bidirectional ``nn.LSTM`` over a zero-padded batch runs its backward direction from
the last padded frame, so every real frame of a shorter utterance has first read the
padding: its output changes with what else is in the batch. ``pack_padded_sequence``
fixes that but is several times slower on CPU. Here each layer holds two unidirectional
LSTMs: the forward one runs on the padded batch as is (padding comes after the real
frames, so it cannot reach them), and the backward one runs on each sequence reversed
*within its own length* (a gather), which moves the padding to the end as well. Both are
exact and run at padded speed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
import torch.utils.checkpoint
from torch import nn

from signdistill.models.subsample import TemporalSubsampler


class CTCOutput(NamedTuple):
    """What a :class:`CTCModel` returns (never a loss).

    Attributes:
        logits: ``(B, T, V)`` unnormalized scores; values at padded frames are meaningless.
        lengths: ``(B,)`` valid frames per utterance.
        hidden: per-layer BiLSTM outputs ``[(B, T, 2H)] * layers`` when requested, else ``[]``.
    """

    logits: torch.Tensor
    lengths: torch.Tensor
    hidden: list[torch.Tensor]

    @property
    def log_probs(self) -> torch.Tensor:
        return torch.log_softmax(self.logits.float(), dim=-1)


def reverse_within_length(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Index ``(B, T)`` that reverses frames ``0..L-1`` of each row and keeps padding in place."""
    t = torch.arange(max_len, device=lengths.device).unsqueeze(0)  # (1, T)
    lens = lengths.to(t.device).unsqueeze(1)  # (B, 1)
    return torch.where(t < lens, lens - 1 - t, t)


def _gather_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class ExactBiLSTMLayer(nn.Module):
    """One bidirectional LSTM layer, exact on padded batches. ``(B, T, I) -> (B, T, 2H)``."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.fwd = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.bwd = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, x: torch.Tensor, reverse_index: torch.Tensor) -> torch.Tensor:
        out_f, _ = self.fwd(x)  # (B, T, H)
        out_b, _ = self.bwd(_gather_time(x, reverse_index))  # (B, T, H), reversed time
        return torch.cat([out_f, _gather_time(out_b, reverse_index)], dim=-1)

    @classmethod
    def from_bidirectional(cls, lstm: nn.LSTM, layer: int) -> ExactBiLSTMLayer:
        """Copy one layer of a bidirectional ``nn.LSTM`` (for comparisons and imports)."""
        m = cls(lstm.input_size if layer == 0 else 2 * lstm.hidden_size, lstm.hidden_size)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(m.fwd, f"{name}_l0").copy_(getattr(lstm, f"{name}_l{layer}"))
                getattr(m.bwd, f"{name}_l0").copy_(getattr(lstm, f"{name}_l{layer}_reverse"))
        return m


@dataclass
class ModelSpec:
    """Hyperparameters of a :class:`CTCModel`; saved in every checkpoint."""

    input_dim: int
    vocab_size: int
    hidden: int = 256
    layers: int = 4
    input_proj: int = 256
    dropout: float = 0.1
    arch: str = field(default="bilstm_ctc")
    temporal_stride: int = 1  # 2 or 4: a convolution + pooling front end subsamples time (models/subsample.py)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        return cls(**d)


PRESETS: dict[str, dict[str, int | float]] = {
    "teacher": {"layers": 5, "hidden": 384, "input_proj": 384, "dropout": 0.2},
    "student": {"layers": 4, "hidden": 256, "input_proj": 256, "dropout": 0.1},
}


class CTCModel(nn.Module):
    """Input projection -> stacked exact BiLSTM layers -> linear classifier over glosses.

    Example:
        >>> m = CTCModel(ModelSpec(input_dim=36, vocab_size=10, hidden=32, layers=2, input_proj=32))
        >>> out = m(torch.randn(3, 50, 36), torch.tensor([50, 20, 1]), return_hidden=True)
        >>> out.logits.shape, len(out.hidden), out.hidden[0].shape
        (torch.Size([3, 50, 10]), 2, torch.Size([3, 50, 64]))
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        if spec.layers < 1 or spec.hidden < 1 or spec.input_dim < 1 or spec.vocab_size < 2:
            raise ValueError(f"Invalid model spec {spec}: layers, hidden, input_dim must be >= 1.")
        self.spec = spec
        if spec.input_proj > 0:
            self.input_proj: nn.Module = nn.Sequential(nn.Linear(spec.input_dim, spec.input_proj), nn.ReLU(), nn.Dropout(spec.dropout))
            in_size = spec.input_proj
        else:
            self.input_proj = nn.Identity()
            in_size = spec.input_dim
        # Subsampling in time (CSLR's K5-P2 blocks) after the projection, before the BiLSTM.
        self.subsample = TemporalSubsampler(in_size, spec.temporal_stride) if spec.temporal_stride != 1 else None
        self.layers = nn.ModuleList()
        for i in range(spec.layers):
            self.layers.append(ExactBiLSTMLayer(in_size if i == 0 else 2 * spec.hidden, spec.hidden))
        self.dropout = nn.Dropout(spec.dropout)
        self.classifier = nn.Linear(2 * spec.hidden, spec.vocab_size)
        # Recompute each BiLSTM layer's internals in the backward pass instead of storing them
        # (a runtime setting, not part of the spec or the checkpoint): only the layers' outputs
        # stay in memory. Exact: same loss and gradients, at the cost of a second forward.
        self.activation_checkpointing = False

    @property
    def hidden_sizes(self) -> list[int]:
        """Width of each layer's output (what feature matching sees)."""
        return [2 * self.spec.hidden] * self.spec.layers

    def forward(self, features: torch.Tensor, lengths: torch.Tensor, *, return_hidden: bool = False) -> CTCOutput:
        """Args: features ``(B, T, D)``, lengths ``(B,)``. Returns a :class:`CTCOutput` (its lengths are the
        output's: ``ceil(T / temporal_stride)`` per utterance)."""
        if features.dim() != 3 or features.shape[-1] != self.spec.input_dim:
            raise ValueError(f"features must be (batch, time, {self.spec.input_dim}); got {tuple(features.shape)}")
        x = self.input_proj(features)
        if self.subsample is not None:
            x, lengths = self.subsample(x, lengths)  # (B, T / stride, C): the output has fewer frames
        rev = reverse_within_length(lengths, x.shape[1])
        hidden: list[torch.Tensor] = []
        recompute = self.activation_checkpointing and self.training and torch.is_grad_enabled()
        for layer in self.layers:
            if recompute:
                x = torch.utils.checkpoint.checkpoint(layer, x, rev, use_reentrant=False)
            else:
                x = layer(x, rev)  # (B, T, 2H)
            if return_hidden:
                hidden.append(x)
            x = self.dropout(x)
        return CTCOutput(self.classifier(x), lengths, hidden)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def size_bytes(self, bytes_per_param: int = 4) -> int:
        return self.num_parameters() * bytes_per_param


def build_model(
    input_dim: int,
    vocab_size: int,
    *,
    preset: str | None = None,
    **overrides: int | float,
) -> CTCModel:
    """Build a :class:`CTCModel`; a ``preset`` (``teacher`` 5x384, ``student`` 4x256) sets defaults."""
    return CTCModel(resolve_spec(input_dim, vocab_size, preset=preset, **overrides))


def resolve_spec(input_dim: int, vocab_size: int, *, preset: str | None = None, **overrides: int | float | None) -> ModelSpec:
    """The :class:`ModelSpec` a preset plus overrides (``None`` = keep the preset's) describe."""
    params: dict = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
        params.update(PRESETS[preset])
    params.update({k: v for k, v in overrides.items() if v is not None})
    return ModelSpec(input_dim=input_dim, vocab_size=vocab_size, **params)


def init_output_bias_from_prior(model: nn.Module, gloss_counts: list[int], total_frames: int) -> None:
    """Set the classifier bias to log frame priors: blank gets the frames no gloss occupies.

    With ``G`` glosses over ``F`` frames, blank's prior is ``1 - G/F`` and gloss ``v``'s is
    ``count_v / F`` (one spike per gloss). At initialization the model then outputs the
    data's marginal, instead of a uniform distribution it first has to unlearn.

    Args:
        model: a model with a ``classifier`` ``nn.Linear`` over the vocabulary (blank at index 0).
        gloss_counts: occurrences of each vocabulary entry in the training transcripts (index 0 ignored).
        total_frames: frames in the training set.
    """
    import math

    head = model.classifier
    assert isinstance(head, nn.Linear)
    if head.bias is None or len(gloss_counts) != head.out_features:
        raise ValueError(f"need {head.out_features} counts, got {len(gloss_counts)}")
    glosses = sum(gloss_counts[1:])
    if total_frames <= glosses:
        raise ValueError(f"{glosses} glosses in {total_frames} frames: CTC needs at least one frame per gloss")
    priors = [max(1.0 - glosses / total_frames, 1e-6)] + [max(c, 0.5) / total_frames for c in gloss_counts[1:]]
    with torch.no_grad():
        head.bias.copy_(torch.tensor([math.log(p) for p in priors], dtype=head.bias.dtype))
