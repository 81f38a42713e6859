"""The beam search backends, one adapter each: built once from the settings, then ``(T, V)`` -> :class:`CTCHypothesis`.

Both backends are optional (``pip install signdistill[lm]``) and imported when an adapter is built.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np

from signdistill.decoding.hypothesis import CTCHypothesis, empty_hypothesis, hypothesis_from_path
from signdistill.errors import SignDistillError


class BackendSettings(Protocol):
    """What an adapter reads of :class:`~signdistill.decoding.beam.DecoderConfig`."""

    beam_width: int
    alpha: float
    beta: float
    lm: str | None
    hotwords: list[str]
    hotword_weight: float
    token_min_logp: float


class BeamBackend(Protocol):
    """One beam search library behind one call: ``(T, V)`` float32 log-probs, ``T >= 1`` -> the best hypothesis."""

    def __init__(self, tokens: Sequence[str], settings: BackendSettings) -> None: ...

    def decode(self, log_probs: np.ndarray) -> CTCHypothesis: ...


@contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """KenLM prints a progress bar from C++ while loading an ARPA file; keep it off the console."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        yield
        return
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            sys.stderr.flush()
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _require(module: str, extra: str = "lm") -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SignDistillError(
            f"Beam search with this backend needs the optional package {module.split('.')[0]!r}: "
            f"pip install 'signdistill[{extra}]'" + (" (or: pip install flashlight-text)" if "flashlight" in module else "")
        ) from None


class PyctcdecodeBackend:
    """pyctcdecode with the labels as word pieces (``""`` for the blank, ``"▁GLOSS"``), so that every gloss is one LM word."""

    def __init__(self, tokens: Sequence[str], settings: BackendSettings) -> None:
        pyctc = _require("pyctcdecode")
        if settings.lm is not None:
            _require("kenlm")
        logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
        self.settings = settings
        self._ids = {t: i for i, t in enumerate(tokens)}
        labels = [""] + ["▁" + t for t in tokens[1:]]
        with _quiet_native_stderr():
            self._decoder = pyctc.build_ctcdecoder(
                labels, kenlm_model_path=str(settings.lm) if settings.lm else None, alpha=settings.alpha, beta=settings.beta
            )

    def decode(self, log_probs: np.ndarray) -> CTCHypothesis:
        s = self.settings
        beams = self._decoder.decode_beams(
            log_probs,
            beam_width=s.beam_width,
            token_min_logp=s.token_min_logp,
            hotwords=list(s.hotwords) or None,
            hotword_weight=s.hotword_weight,
        )
        if not beams:
            return empty_hypothesis(-math.inf)
        text, _, word_frames, _, score = beams[0]  # (text, LM state, [(word, (start, end))], acoustic score, combined score)
        words = tuple(text.split())
        spans = tuple((int(start), int(end)) for _, (start, end) in word_frames)
        return CTCHypothesis(tuple(self._ids[w] for w in words), words, float(score), spans)


class FlashlightBackend:
    """flashlight-text's lexicon-free decoder (what torchaudio's ``ctc_decoder`` wraps); the blank is the word boundary."""

    def __init__(self, tokens: Sequence[str], settings: BackendSettings) -> None:
        if settings.beta != 0:
            # The lexicon-free decoder scores a silence token, not emitted words; with the
            # blank as its word boundary there is no per-gloss bonus to map beta onto.
            raise SignDistillError(
                f"The flashlight backend has no per-gloss insertion bonus: beta must be 0 (got {settings.beta}). "
                "Use --beta 0, or the pyctcdecode backend."
            )
        dec = _require("flashlight.lib.text.decoder")
        dictionary = _require("flashlight.lib.text.dictionary")
        self.tokens = list(tokens)
        token_dict = dictionary.Dictionary()
        for t in self.tokens:
            token_dict.add_entry(t)
        if settings.lm is not None:
            with _quiet_native_stderr():
                lm = dec.KenLM(str(settings.lm), token_dict)
        else:
            lm = dec.ZeroLM()
        opts = dec.LexiconFreeDecoderOptions(
            beam_size=settings.beam_width,
            beam_size_token=min(len(self.tokens), 16),
            beam_threshold=50.0,
            lm_weight=settings.alpha * math.log(10),  # KenLM scores are log10: alpha means what it means for pyctcdecode
            sil_score=0.0,
            log_add=False,
            criterion_type=dec.CriterionType.CTC,
        )
        # Every gloss is a word: the blank doubles as the word boundary token.
        self._decoder = dec.LexiconFreeDecoder(opts, lm, 0, 0, [])

    def decode(self, log_probs: np.ndarray) -> CTCHypothesis:
        results = self._decoder.decode(log_probs.ctypes.data, log_probs.shape[0], log_probs.shape[1])
        if not results:
            return empty_hypothesis(-math.inf)
        best = results[0]
        path = list(best.tokens)[1:-1]  # best.tokens is the frame path with a boundary at each end: (T + 2,)
        return hypothesis_from_path(path, self.tokens, best.score)
