"""BiLSTM CTC models (torch only)."""

from signdistill.models.bilstm import (
    PRESETS,
    CTCModel,
    CTCOutput,
    ExactBiLSTMLayer,
    ModelSpec,
    build_model,
    resolve_spec,
    reverse_within_length,
)

__all__ = [
    "PRESETS",
    "CTCModel",
    "CTCOutput",
    "ExactBiLSTMLayer",
    "ModelSpec",
    "build_model",
    "resolve_spec",
    "reverse_within_length",
]
