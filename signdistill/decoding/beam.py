"""CTC beam search with a gloss-level KenLM language model.

Every CTC label is a whole gloss, so every label must count as a *word* for the LM.
pyctcdecode treats labels that start with ``▁`` as word pieces that begin a new word, so
the labels are passed as ``""`` (blank) and ``"▁GLOSS"``: each emitted gloss is then one
LM word. A second backend, flashlight-text's lexicon-free decoder (what torchaudio's
``ctc_decoder`` wraps), sits behind the same interface; its LM weight is
``alpha * ln(10)`` so that ``alpha`` means the same for both (KenLM scores are log10).

Both backends are optional (``pip install signdistill[lm]``) and imported lazily.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from signdistill.decoding.collapse import collapse_ids
from signdistill.defaults import BEAM_BACKEND, BEAM_WIDTH
from signdistill.errors import SignDistillError

BACKENDS = ("pyctcdecode", "flashlight")


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


class BeamSearchDecoder:
    """Beam search over per-utterance log-probabilities ``(T, V)`` -> gloss lists.

    Args:
        tokens: the vocabulary (index 0 is the blank).
        config: beam width, LM path, alpha (LM weight), beta (word insertion bonus), backend.
    """

    def __init__(self, tokens: Sequence[str], config: DecoderConfig):
        config.validate()
        self.tokens = list(tokens)
        self.config = config
        try:
            if config.backend == "pyctcdecode":
                self._init_pyctcdecode()
            else:
                self._init_flashlight()
        except OSError as exc:  # KenLM's own parser found a fault past the header validate() checked
            if config.lm is None:
                raise
            raise SignDistillError(f"KenLM cannot load the language model {config.lm}: {exc}") from None

    def _init_pyctcdecode(self) -> None:
        pyctc = _require("pyctcdecode")
        labels = [""] + ["▁" + t for t in self.tokens[1:]]
        if self.config.lm is not None:
            _require("kenlm")
        import logging

        logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
        with _quiet_native_stderr():
            self._decoder = pyctc.build_ctcdecoder(
                labels,
                kenlm_model_path=str(self.config.lm) if self.config.lm else None,
                alpha=self.config.alpha,
                beta=self.config.beta,
            )

    def _init_flashlight(self) -> None:
        if self.config.beta != 0:
            # The lexicon-free decoder scores a silence token, not emitted words; with the
            # blank as its word boundary there is no per-gloss bonus to map beta onto.
            raise SignDistillError(
                f"The flashlight backend has no per-gloss insertion bonus: beta must be 0 (got {self.config.beta}). "
                "Use --beta 0, or the pyctcdecode backend."
            )
        dec = _require("flashlight.lib.text.decoder")
        dictionary = _require("flashlight.lib.text.dictionary")
        token_dict = dictionary.Dictionary()
        for t in self.tokens:
            token_dict.add_entry(t)
        if self.config.lm is not None:
            with _quiet_native_stderr():
                lm = dec.KenLM(str(self.config.lm), token_dict)
        else:
            lm = dec.ZeroLM()
        opts = dec.LexiconFreeDecoderOptions(
            beam_size=self.config.beam_width,
            beam_size_token=min(len(self.tokens), 16),
            beam_threshold=50.0,
            lm_weight=self.config.alpha * math.log(10),
            sil_score=0.0,
            log_add=False,
            criterion_type=dec.CriterionType.CTC,
        )
        # Every gloss is a word: the blank doubles as the word boundary token.
        self._decoder = dec.LexiconFreeDecoder(opts, lm, 0, 0, [])

    def decode_one(self, log_probs: np.ndarray) -> list[str]:
        if log_probs.ndim != 2 or log_probs.shape[1] != len(self.tokens):
            raise ValueError(f"log_probs must be (T, {len(self.tokens)}); got {log_probs.shape}")
        if log_probs.shape[0] == 0:
            return []
        lp = np.ascontiguousarray(log_probs, dtype=np.float32)
        if self.config.backend == "pyctcdecode":
            beams = self._decoder.decode_beams(
                lp,
                beam_width=self.config.beam_width,
                token_min_logp=self.config.token_min_logp,
                hotwords=list(self.config.hotwords) or None,
                hotword_weight=self.config.hotword_weight,
            )
            return beams[0][0].split() if beams else []
        emissions = lp.ctypes.data
        results = self._decoder.decode(emissions, lp.shape[0], lp.shape[1])
        if not results:
            return []
        return [self.tokens[i] for i in collapse_ids(i for i in results[0].tokens if i >= 0)]

    def decode(self, log_probs: Sequence[np.ndarray], *, processes: int = 1) -> list[list[str]]:
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


def _decode_in_worker(log_probs: np.ndarray) -> list[str]:
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
