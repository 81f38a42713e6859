"""CTC beam search with a gloss-level KenLM language model.

Every CTC label is a whole gloss, so every label must count as a *word* for the LM.
pyctcdecode treats labels that start with ``▁`` as word pieces that begin a new word, so
the labels are passed as ``""`` (blank) and ``"▁GLOSS"``: each emitted gloss is then one
LM word. A second backend, flashlight-text's lexicon-free decoder (what torchaudio's
``ctc_decoder`` wraps), sits behind the same interface; its LM weight is
``alpha * ln(10)`` so that ``alpha`` means the same for both (KenLM scores are log10).
Each backend is one adapter (``signdistill.decoding.backends``), chosen once when the
decoder is built; both return a :class:`~signdistill.decoding.hypothesis.CTCHypothesis`.

Both backends are optional (``pip install signdistill[lm]``) and imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from signdistill.decoding.backends import BeamBackend, FlashlightBackend, PyctcdecodeBackend
from signdistill.decoding.hypothesis import CTCHypothesis, empty_hypothesis
from signdistill.defaults import BEAM_BACKEND, BEAM_WIDTH
from signdistill.errors import SignDistillError

# One adapter per backend; the decoder picks one when it is built.
ADAPTERS: dict[str, type[BeamBackend]] = {"pyctcdecode": PyctcdecodeBackend, "flashlight": FlashlightBackend}
BACKENDS = tuple(ADAPTERS)


@dataclass
class DecoderConfig:
    """Beam search settings; ``signdistill tune-decoder`` writes these as JSON."""

    beam_width: int = BEAM_WIDTH
    alpha: float = 0.5
    beta: float = 0.0
    lm: str | None = None
    backend: str = BEAM_BACKEND
    hotwords: list[str] = field(default_factory=list)
    hotword_weight: float = 10.0
    token_min_logp: float = -10.0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "decoder config") -> DecoderConfig:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise SignDistillError(f"{source}: unknown keys {unknown}; valid keys: {sorted(cls.__dataclass_fields__)}.")
        cfg = cls(**d)
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "decoder") -> None:
        if self.beam_width < 1:
            raise SignDistillError(f"{source}: beam_width must be >= 1, got {self.beam_width}.")
        if self.backend not in BACKENDS:
            raise SignDistillError(f"{source}: backend {self.backend!r} is not one of {list(BACKENDS)}.")
        if self.lm is not None:
            from signdistill.decoding.lm import check_lm_file

            check_lm_file(self.lm, source)


class BeamSearchDecoder:
    """Beam search over per-utterance log-probabilities ``(T, V)`` -> :class:`CTCHypothesis`.

    Args:
        tokens: the vocabulary (index 0 is the blank).
        config: beam width, LM path, alpha (LM weight), beta (word insertion bonus), backend.

    Example:
        >>> hyp = BeamSearchDecoder(vocab.tokens, DecoderConfig(lm="lm.arpa")).decode_one(log_probs)  # doctest: +SKIP
        >>> hyp.words, hyp.score, hyp.frames  # doctest: +SKIP
        (('A', 'B'), -3.2, ((4, 6), (9, 10)))
    """

    def __init__(self, tokens: Sequence[str], config: DecoderConfig):
        config.validate()
        self.tokens = list(tokens)
        self.config = config
        try:
            # The backend is chosen here, once: decode_one only calls the adapter.
            self._backend: BeamBackend = ADAPTERS[config.backend](self.tokens, config)
        except OSError as exc:  # KenLM's own parser found a fault past the header validate() checked
            if config.lm is None:
                raise
            raise SignDistillError(f"KenLM cannot load the language model {config.lm}: {exc}") from None

    def decode_one(self, log_probs: np.ndarray) -> CTCHypothesis:
        """The best hypothesis for one utterance's log-probabilities ``(T, V)`` (none for ``T = 0``)."""
        if log_probs.ndim != 2 or log_probs.shape[1] != len(self.tokens):
            raise ValueError(f"log_probs must be (T, {len(self.tokens)}); got {log_probs.shape}")
        if log_probs.shape[0] == 0:
            return empty_hypothesis()
        return self._backend.decode(np.ascontiguousarray(log_probs, dtype=np.float32))

    def decode(self, log_probs: Sequence[np.ndarray], *, processes: int = 1) -> list[CTCHypothesis]:
        """Decode a list of ``(T, V)`` log-probability arrays; ``processes > 1`` uses a fork pool
        whose workers run exactly :meth:`decode_one` (the same results as one process)."""
        if processes > 1 and len(log_probs) > 1:
            import multiprocessing as mp

            global _WORKER_DECODER
            _WORKER_DECODER = self
            try:
                with mp.get_context("fork").Pool(processes) as pool:
                    return pool.map(_decode_in_worker, list(log_probs))
            finally:
                _WORKER_DECODER = None
        return [self.decode_one(x) for x in log_probs]


_WORKER_DECODER: BeamSearchDecoder | None = None


def _decode_in_worker(log_probs: np.ndarray) -> CTCHypothesis:
    assert _WORKER_DECODER is not None
    return _WORKER_DECODER.decode_one(log_probs)


def is_decoder_config(path: str | os.PathLike[str]) -> bool:
    """True for a JSON file of decoder settings as ``tune-decoder`` writes it (exactly its keys)."""
    import json

    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and set(d) == set(DecoderConfig.__dataclass_fields__)


def load_decoder_config(path: str | os.PathLike[str]) -> DecoderConfig:
    import json

    p = Path(path)
    if not p.is_file():
        raise SignDistillError(f"Decoder config {p} does not exist. Write one with `signdistill tune-decoder`.")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SignDistillError(f"{p}: not valid JSON ({exc.msg}, line {exc.lineno}).") from None
    if not isinstance(d, dict):
        raise SignDistillError(f"{p}: expected a JSON object of decoder settings.")
    lm = d.get("lm")
    if isinstance(lm, str) and not Path(lm).is_absolute() and (p.parent / lm).exists():
        d["lm"] = str(p.parent / lm)  # a relative LM path is read next to the decoder config, wherever the command runs
    return DecoderConfig.from_dict(d, str(p))


def decoder_from_options(
    *,
    lm: str | os.PathLike[str] | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    beam_width: int | None = None,
    backend: str | None = None,
    decoder_config: str | os.PathLike[str] | None = None,
) -> DecoderConfig | None:
    """Beam search settings from command-line options, or None for greedy decoding.

    Starts from ``decoder_config`` (a ``tune-decoder`` JSON file) or the defaults; every option
    given replaces that setting. Beam search is chosen by ``lm``, ``beam_width`` or ``decoder_config``.
    """
    if decoder_config is None and lm is None and beam_width is None:
        return None
    base = load_decoder_config(decoder_config) if decoder_config is not None else DecoderConfig()
    given: dict[str, Any] = {"lm": str(lm) if lm else None, "alpha": alpha, "beta": beta, "beam_width": beam_width, "backend": backend}
    cfg = replace(base, **{key: value for key, value in given.items() if value is not None})
    cfg.validate("decoder options")
    return cfg
