"""Transcribing inputs batch by batch: read, normalize, run the model, decode, align."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from signdistill.errors import DataError
from signdistill.runner import Model, run_all
from signdistill.transcribe.inputs import Failure, InputFile, _read
from signdistill.transcribe.segments import GlossSegment, Transcript, aligned_segments, greedy_segments

_SCALE_HINT = "Check that the features were extracted like the model's training features (same units and scale)."


def _normalized(model: Model, item: InputFile) -> np.ndarray:
    """One input's features, normalized; :class:`DataError` naming the file when they overflow float32."""
    raw = _read(item, model.input_dim)
    with np.errstate(over="ignore", invalid="ignore"):
        x = model.normalizer(raw)
    if not np.isfinite(x).all():
        big = float(np.abs(raw).max())
        raise DataError(f"{item.path} holds feature values as large as {big:.3g}, which overflow once normalized. {_SCALE_HINT}")
    return x


def transcribe(
    model: Model,
    inputs: Sequence[InputFile],
    *,
    batch_size: int = 16,
    decoder: Any | None = None,
) -> Iterator[Transcript | Failure]:
    """Transcribe ``inputs`` in order, ``batch_size`` at a time; yields a :class:`Transcript`
    or a :class:`Failure` per input (a bad file does not stop the others).

    Args:
        model: from :func:`load_model`.
        inputs: from :func:`collect_inputs`.
        decoder: a :class:`~signdistill.decoding.beam.DecoderConfig` for beam search
            (with an LM); greedy decoding when None.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    beam = None
    if decoder is not None:
        from signdistill.decoding.beam import BeamSearchDecoder

        beam = BeamSearchDecoder(model.vocab.tokens, decoder)
    tokens = model.vocab.tokens
    stride = int(model.spec.get("temporal_stride", 1))  # output frames are this many input frames
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start : start + batch_size]
        loaded: dict[int, np.ndarray] = {}
        errors: dict[int, Failure] = {}
        for i, item in enumerate(chunk):
            try:
                loaded[i] = _normalized(model, item)
            except DataError as exc:
                errors[i] = Failure(str(item.path), " ".join(str(exc).split()))
        good = list(loaded)
        outs = run_all(model, [loaded[i] for i in good], len(good)) if good else []  # one batch: (T_i, V) each
        log_probs = dict(zip(good, outs))
        for i, item in enumerate(chunk):
            if i not in errors and not np.isfinite(log_probs[i]).all():
                errors[i] = Failure(str(item.path), f"{item.path}: the model's outputs are not finite for these features. {_SCALE_HINT}")
            if i in errors:
                yield errors[i]
                continue
            lp = log_probs[i]
            if beam is None:
                segments = greedy_segments(lp, tokens)
            else:
                segments = aligned_segments(lp, beam.decode_one(lp).tokens, tokens)
            yield Transcript(item.id, item.path, _in_input_frames(segments, stride, len(loaded[i])), len(loaded[i]))


def _in_input_frames(segments: list[GlossSegment], stride: int, frames: int) -> list[GlossSegment]:
    """Segments of a model that subsamples time (``temporal_stride``), in the input's frames (CTM times)."""
    if stride == 1:
        return segments
    return [replace(s, start=s.start * stride, end=min(s.end * stride, frames)) for s in segments]
