import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from signdistill.decoding import greedy_decode
from signdistill.decoding.lm import arpa_log10prob, build_arpa, estimate_kneser_ney, read_arpa
from signdistill.errors import SignDistillError

FIX = Path(__file__).parent / "fixtures"
HAS_LM = importlib.util.find_spec("pyctcdecode") is not None and importlib.util.find_spec("kenlm") is not None
HAS_FL = importlib.util.find_spec("flashlight") is not None
needs_lm = pytest.mark.skipif(not HAS_LM, reason="needs the lm extra (pyctcdecode, kenlm)")
TOKENS = ["<blank>", "<unk>", "A", "B", "C"]


def reference_greedy(path):
    out, prev = [], None
    for p in path:
        if p != prev and p != 0:
            out.append(p)
        prev = p
    return out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 4), min_size=0, max_size=12), min_size=1, max_size=4))
def test_greedy_matches_reference(paths):
    t = max(len(p) for p in paths) or 1
    logits = torch.zeros(len(paths), t, 5)
    for b, p in enumerate(paths):
        for i, k in enumerate(p):
            logits[b, i, k] = 1.0
        for i in range(len(p), t):
            logits[b, i, 3] = 5.0  # padding content must not matter
    lengths = torch.tensor([len(p) for p in paths])
    assert greedy_decode(logits, lengths) == [reference_greedy(p) for p in paths]


def frame(d):
    v = np.full(5, 1e-3)
    for k, p in d.items():
        v[k] = p
    return np.log(v / v.sum())


# Acoustics slightly prefer "A C B"; the LM (fixtures/abc.arpa) strongly prefers "A B C".
AMBIGUOUS = np.stack(
    [frame({2: 0.9}), frame({0: 0.9}), frame({3: 0.45, 4: 0.5}), frame({0: 0.9}), frame({4: 0.45, 3: 0.5}), frame({0: 0.9})]
)


@needs_lm
def test_gloss_level_lm_changes_the_result():
    from signdistill.decoding.beam import BeamSearchDecoder, DecoderConfig

    no_lm = BeamSearchDecoder(TOKENS, DecoderConfig(beam_width=8))
    assert no_lm.decode_one(AMBIGUOUS).words == ("A", "C", "B")
    weak = BeamSearchDecoder(TOKENS, DecoderConfig(beam_width=8, alpha=0.0, lm=str(FIX / "abc.arpa")))
    strong = BeamSearchDecoder(TOKENS, DecoderConfig(beam_width=8, alpha=1.0, lm=str(FIX / "abc.arpa")))
    assert weak.decode_one(AMBIGUOUS).words == ("A", "C", "B")
    assert strong.decode_one(AMBIGUOUS).words == ("A", "B", "C")


@needs_lm
def test_beam_handles_empty_and_single_frame_and_hotwords():
    from signdistill.decoding.beam import BeamSearchDecoder, DecoderConfig

    d = BeamSearchDecoder(TOKENS, DecoderConfig(beam_width=4, lm=str(FIX / "abc.arpa")))
    assert d.decode_one(np.zeros((0, 5), np.float32)).words == ()
    assert d.decode_one(frame({3: 0.9})[None]).words == ("B",)
    assert BeamSearchDecoder(TOKENS, DecoderConfig(beam_width=4)).decode_one(frame({0: 0.99})[None]).words == ()
    h = BeamSearchDecoder(TOKENS, DecoderConfig(beam_width=8, hotwords=["B"], hotword_weight=1.0))
    assert h.decode_one(AMBIGUOUS).words == ("A", "B", "B")  # without the hotword: A C B
    with pytest.raises(ValueError):
        d.decode_one(np.zeros((3, 4), np.float32))


@needs_lm
@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=15))
def test_beam_without_lm_equals_greedy_on_peaky_input(path):
    from signdistill.decoding.beam import BeamSearchDecoder, DecoderConfig

    lp = np.stack([frame({k: 0.999}) for k in path])
    d = BeamSearchDecoder(TOKENS, DecoderConfig(beam_width=4))
    assert d.decode_one(lp).words == tuple(TOKENS[i] for i in reference_greedy(path))


@pytest.mark.skipif(not (HAS_LM and HAS_FL), reason="needs pyctcdecode, kenlm and flashlight-text")
def test_flashlight_backend_agrees():
    from signdistill.decoding.beam import BeamSearchDecoder, DecoderConfig

    for alpha in (0.0, 1.0):
        a = BeamSearchDecoder(TOKENS, DecoderConfig(beam_width=8, alpha=alpha, lm=str(FIX / "abc.arpa")))
        b = BeamSearchDecoder(TOKENS, DecoderConfig(beam_width=8, alpha=alpha, lm=str(FIX / "abc.arpa"), backend="flashlight"))
        assert a.decode_one(AMBIGUOUS).words == b.decode_one(AMBIGUOUS).words


def test_missing_backend_names_the_extra(monkeypatch):
    import builtins

    from signdistill.decoding.beam import BeamSearchDecoder, DecoderConfig

    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("pyctcdecode"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    import importlib

    monkeypatch.setattr(importlib, "import_module", lambda n: fake(n))
    with pytest.raises(SignDistillError, match=r"pip install 'signdistill\[lm\]'"):
        BeamSearchDecoder(TOKENS, DecoderConfig())


CORPUS = [s.split() for s in ["A B C", "A B B", "C A", "B C A B", "A A C", "B A C C", "A B C"]]
WORDS = ["A", "B", "C", "</s>", "<unk>"]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_kneser_ney_sums_to_one_for_every_context(tmp_path, order):
    build_arpa(CORPUS, tmp_path / "lm.arpa", order=order)
    m = read_arpa(tmp_path / "lm.arpa")
    contexts = [(), ("<s>",), ("A",), ("C",), ("Z",), ("<s>", "A"), ("A", "B"), ("B", "B"), ("C", "C", "A")]
    for ctx in contexts:
        assert sum(10 ** arpa_log10prob(m, ctx, w) for w in WORDS) == pytest.approx(1.0, abs=1e-6), ctx


def test_kneser_ney_known_bigram_values():
    """Hand computation for a 2-gram model on a tiny corpus (fallback discounts 0.5/1/1.5)."""
    m = estimate_kneser_ney([["A", "B"], ["A", "A"]], order=2)
    # Unigram continuation counts: A after {<s>, A} -> 2, B after {A} -> 1, </s> after {B, A} -> 2; total 5.
    # Discounts for 1 and 2: 0.5 and 1.0; gamma() = (0.5*1 + 1.0*2) / 5 = 0.5; uniform over 4 words.
    p_a = (2 - 1.0) / 5 + 0.5 / 4
    assert 10 ** m[1][("A",)][0] == pytest.approx(p_a)
    # Bigram A -> {B: 1, A: 1, </s>: 1}: total 3, gamma(A) = 0.5 * 3 / 3 = 0.5.
    p_b = 10 ** m[1][("B",)][0]
    assert 10 ** m[2][("A", "B")][0] == pytest.approx((1 - 0.5) / 3 + 0.5 * p_b)
    assert 10 ** m[1][("A",)][1] == pytest.approx(0.5)


@needs_lm
def test_kenlm_loads_and_agrees(tmp_path):
    import kenlm

    build_arpa(CORPUS, tmp_path / "lm.arpa", order=3)
    model = kenlm.Model(str(tmp_path / "lm.arpa"))
    ours = read_arpa(tmp_path / "lm.arpa")
    sent = ["A", "B", "C", "A"]
    ctx, total = ("<s>",), 0.0
    for w in [*sent, "</s>"]:
        total += arpa_log10prob(ours, ctx, w)
        ctx = (*ctx, w)
    assert model.score(" ".join(sent), bos=True, eos=True) == pytest.approx(total, abs=1e-4)


def test_read_arpa_refuses_other_files(tmp_path):
    p = tmp_path / "x.arpa"
    p.write_text("hello\n")
    with pytest.raises(SignDistillError, match="not an ARPA"):
        read_arpa(p)
    p.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SignDistillError, match=r"neither an ARPA text file \(it is not UTF-8 text\) nor a KenLM binary"):
        read_arpa(p)
    assert math.isfinite(read_arpa(FIX / "abc.arpa")[2][("A", "B")][0])


@needs_lm
def test_batch_decoding_over_processes_matches_serial():
    from signdistill.decoding.beam import BeamSearchDecoder, DecoderConfig

    rng = np.random.default_rng(0)
    batch = [np.log(rng.dirichlet(np.ones(5) * 0.3, size=int(rng.integers(3, 12)))).astype(np.float32) for _ in range(6)]
    d = BeamSearchDecoder(TOKENS, DecoderConfig(beam_width=6, alpha=0.5, lm=str(FIX / "abc.arpa")))
    assert d.decode(batch, processes=2) == d.decode(batch)


def test_collapse_ids_and_beam_search_import_without_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from signdistill.decoding import collapse_ids\n"
        "import signdistill.decoding.beam\n"
        "assert collapse_ids([0, 3, 3, 0, 3, 1]) == [3, 3, 1]\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_collapse_ids_matches_greedy_decode():
    import torch

    from signdistill.decoding import collapse_ids, greedy_decode

    g = torch.Generator().manual_seed(0)
    for t in (0, 1, 2, 7):
        logits = torch.randn(1, t, 4, generator=g)
        assert greedy_decode(logits, torch.tensor([t]))[0] == collapse_ids(logits[0].argmax(-1).tolist())
