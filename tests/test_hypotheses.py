"""Typed hypotheses (tokens, words, score, frame spans) from greedy decoding and both beam backends."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signdistill.decoding import CTCHypothesis, collapse_ids, decode_hypotheses, decode_log_probs, greedy_hypothesis

FIX = Path(__file__).parent / "fixtures"
TOKENS = ["<blank>", "<unk>", "A", "B", "C"]
HAS_PYCTC = importlib.util.find_spec("pyctcdecode") is not None and importlib.util.find_spec("kenlm") is not None
HAS_FL = importlib.util.find_spec("flashlight") is not None
BACKENDS = [
    pytest.param("pyctcdecode", marks=pytest.mark.skipif(not HAS_PYCTC, reason="needs pyctcdecode and kenlm")),
    pytest.param("flashlight", marks=pytest.mark.skipif(not HAS_FL, reason="needs flashlight-text")),
]


def log_probs(seed: int, frames: int, concentration: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.log(rng.dirichlet(np.ones(len(TOKENS)) * concentration, size=frames)).astype(np.float32)


def check_well_formed(hyp: CTCHypothesis, frames: int) -> None:
    """Tokens spell the words, one span per word inside the utterance, in order, not overlapping, a finite score."""
    assert isinstance(hyp, CTCHypothesis)
    assert hyp.words == tuple(TOKENS[i] for i in hyp.tokens)
    assert 0 not in hyp.tokens
    assert len(hyp.frames) == len(hyp.words)
    previous_end = 0
    for start, end in hyp.frames:
        assert isinstance(start, int) and isinstance(end, int)
        assert previous_end <= start < end <= frames
        previous_end = end
    assert isinstance(hyp.score, float) and math.isfinite(hyp.score)


def beam(backend: str, **settings):
    from signdistill.decoding.beam import BeamSearchDecoder, DecoderConfig

    return BeamSearchDecoder(TOKENS, DecoderConfig(backend=backend, **settings))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**16), st.integers(0, 20))
def test_greedy_hypothesis_is_the_best_path_with_its_runs(seed, frames):
    lp = log_probs(seed, frames)
    hyp = greedy_hypothesis(lp, TOKENS)
    check_well_formed(hyp, frames)
    best = lp.argmax(-1)
    assert list(hyp.tokens) == collapse_ids(best.tolist())
    for k, (start, end) in zip(hyp.tokens, hyp.frames):
        assert (best[start:end] == k).all()  # each span is a whole run of its label ...
        assert start == 0 or best[start - 1] != k
        assert end == frames or best[end] != k
    assert hyp.score == pytest.approx(float(lp.max(-1).sum()), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("lm", [None, "abc.arpa"])
def test_beam_hypotheses_are_well_formed(backend, lm):
    d = beam(backend, beam_width=6, alpha=0.7, lm=str(FIX / lm) if lm else None)
    for seed in range(12):
        lp = log_probs(seed, 1 + seed * 3)
        check_well_formed(d.decode_one(lp), len(lp))


@pytest.mark.parametrize("backend", BACKENDS)
def test_beam_without_lm_on_peaky_input_is_the_greedy_hypothesis(backend):
    path = [0, 2, 2, 0, 3, 3, 3, 4, 0, 0, 4, 2]
    lp = np.log(np.full((len(path), len(TOKENS)), 1e-4) + np.eye(len(TOKENS))[path]).astype(np.float32)
    lp -= np.log(np.exp(lp).sum(-1, keepdims=True))
    got, want = beam(backend, beam_width=4).decode_one(lp), greedy_hypothesis(lp, TOKENS)
    assert (got.tokens, got.words) == (want.tokens, want.words) == ((2, 3, 4, 4, 2), ("A", "B", "C", "C", "A"))
    assert got.score == pytest.approx(want.score, abs=1e-3)  # one dominant path: every backend's score is its log-probability
    if backend == "flashlight":  # flashlight's spans are its best path's runs: exactly greedy's here
        assert got.frames == want.frames == ((1, 3), (4, 7), (7, 8), (10, 11), (11, 12))


@pytest.mark.parametrize("backend", [pytest.param(None, id="greedy"), *BACKENDS])
def test_empty_and_single_frame_inputs(backend):
    decode = (lambda lp: greedy_hypothesis(lp, TOKENS)) if backend is None else beam(backend, beam_width=4).decode_one
    empty = decode(np.zeros((0, len(TOKENS)), np.float32))
    assert empty == CTCHypothesis((), (), 0.0, ())
    one = np.log(np.array([[0.02, 0.02, 0.02, 0.92, 0.02]], np.float32))
    hyp = decode(one)
    check_well_formed(hyp, 1)
    assert (hyp.tokens, hyp.words, hyp.frames) == ((3,), ("B",), ((0, 1),))
    assert hyp.score == pytest.approx(math.log(0.92), abs=1e-4)
    blank_only = decode(np.log(np.array([[0.96, 0.01, 0.01, 0.01, 0.01]], np.float32)))
    assert (blank_only.tokens, blank_only.words, blank_only.frames) == ((), (), ())
    assert blank_only.score == pytest.approx(math.log(0.96), abs=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_backend_is_chosen_once(backend, monkeypatch):
    """decode_one calls the adapter built in __init__ and never reads the backend's name again."""
    from signdistill.decoding import beam as beam_module

    assert beam_module.BACKENDS == tuple(beam_module.ADAPTERS) == ("pyctcdecode", "flashlight")
    d = beam(backend, beam_width=4)
    assert type(d._backend) is beam_module.ADAPTERS[backend]
    lp = log_probs(3, 9)
    want = d.decode_one(lp)

    class NoBackendName:
        def __getattr__(self, name):
            raise AssertionError(f"decode_one read config.{name}")

    calls = []
    real = d._backend.decode
    monkeypatch.setattr(d, "config", NoBackendName())
    monkeypatch.setattr(d._backend, "decode", lambda x: calls.append(x.shape) or real(x))
    monkeypatch.setattr(beam_module, "ADAPTERS", {})  # nothing may pick an adapter per call either
    assert d.decode_one(lp) == want
    assert d.decode([lp, lp]) == [want, want]
    assert calls == [lp.shape] * 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_hypotheses_survive_the_process_pool_and_give_the_glosses(backend):
    from signdistill.decoding.beam import DecoderConfig

    batch = [log_probs(seed, 2 + seed) for seed in range(5)]
    cfg = DecoderConfig(beam_width=5, alpha=0.5, lm=str(FIX / "abc.arpa"), backend=backend)
    hyps = decode_hypotheses(batch, TOKENS, cfg)
    assert decode_hypotheses(batch, TOKENS, cfg, processes=2) == hyps
    assert decode_log_probs(batch, TOKENS, cfg) == [list(h.words) for h in hyps]


def test_greedy_glosses_are_the_hypotheses_words():
    batch = [log_probs(seed, seed) for seed in range(6)]
    hyps = decode_hypotheses(batch, TOKENS, None)
    want = [[TOKENS[i] for i in collapse_ids(lp.argmax(-1))] for lp in batch]
    assert decode_log_probs(batch, TOKENS, None) == [list(h.words) for h in hyps] == want


def test_hypothesis_checks_its_parts_and_writes_json():
    with pytest.raises(ValueError, match="one word and one frame span per token"):
        CTCHypothesis((2, 3), ("A",), 0.0, ((0, 1),))
    hyp = CTCHypothesis((2,), ("A",), -1.5, ((0, 2),))
    assert hyp.to_dict() == {"tokens": [2], "words": ["A"], "score": -1.5, "frames": [[0, 2]]}
    with pytest.raises(AttributeError):
        hyp.score = 0.0  # type: ignore[misc]
