import importlib.util
import json
import random

import pytest
from typer.testing import CliRunner

from signdistill.cli import app
from signdistill.evaluation import word_error_rate
from signdistill.evaluation.phoenix import phoenix_cleanup
from signdistill.evaluation.sclite import run_sclite, sclite_command, write_ctm, write_stm

runner = CliRunner()
HAS_LM = importlib.util.find_spec("pyctcdecode") is not None and importlib.util.find_spec("kenlm") is not None


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("__ON__ loc-NORD REGEN __OFF__", "NORD REGEN"),
        ("cl-KOMMEN qu-WAS poss-EUCH lh-SONNE", "KOMMEN WAS EUCH SONNE"),
        ("__EMOTION__ __PU__ __LEFTHAND__ __EPENTHESIS__ WETTER", "WETTER"),
        ("REGEN REGEN REGEN SONNE REGEN", "REGEN SONNE REGEN"),
        ("WIE AUSSEHEN ZEIGEN", "WIE-AUSSEHEN ZEIGEN-BILDSCHIRM"),
        ("S0NNE HABEN2 BERGRAUM REGEN-PLUSPLUS", "SONNE HABEN BERG REGEN"),
        ("A B C NORD", "A+B+C NORD"),
        ("ZEIGEN-BILDSCHIRM", "ZEIGEN-BILDSCHIRM"),
    ],
)
def test_phoenix_cleanup_rules(raw, clean):
    assert phoenix_cleanup(raw.split()) == clean.split()


def test_wer_breakdown_and_per_signer():
    r = word_error_rate([["A", "B", "C"], ["D", "E"]], [["A", "X", "C", "Y"], []], ["s1", "s2"])
    assert (r.substitutions, r.deletions, r.insertions, r.reference_words) == (1, 2, 1, 5)
    assert r.wer == pytest.approx(80.0) and r.sentence_error_rate == 100.0
    assert r.per_signer == {"s1": pytest.approx(200 / 3), "s2": 100.0}


@pytest.mark.skipif(sclite_command() is None, reason="sclite not installed (Debian: apt install sctk)")
def test_agrees_with_sclite(tmp_path):
    rng = random.Random(0)
    vocab = [f"G{i}" for i in range(8)]
    ids, refs, hyps = [], [], []
    for k in range(40):
        ref = [rng.choice(vocab) for _ in range(rng.randint(1, 9))]
        hyp = [g for g in ref if rng.random() > 0.2]
        for _ in range(rng.randint(0, 3)):
            hyp.insert(rng.randint(0, len(hyp)), rng.choice(vocab))
        hyp = [rng.choice(vocab) if rng.random() < 0.15 else g for g in hyp]
        if k % 13 == 0:
            hyp = []
        ids.append(f"utt{k:03d}")
        refs.append(ref)
        hyps.append(hyp)
    write_stm(tmp_path / "ref.stm", ids, refs)
    write_ctm(tmp_path / "hyp.ctm", ids, hyps)
    sc = run_sclite(tmp_path / "ref.stm", tmp_path / "hyp.ctm", tmp_path / "out")
    ours = word_error_rate(refs, hyps)
    assert sc["words"] == ours.reference_words
    assert (sc["sub"], sc["del"], sc["ins"]) == (ours.substitutions, ours.deletions, ours.insertions)
    assert 100 * sc["err"] / sc["words"] == pytest.approx(ours.wer)


@pytest.mark.skipif(not HAS_LM, reason="needs the lm extra")
def test_lm_build_tune_and_evaluate_cli(synth, trained_teacher, tmp_path):
    r = runner.invoke(app, ["lm", "build", "--manifest", str(synth / "train.jsonl"), "--order", "3", "--out", str(tmp_path / "lm.arpa")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "tune-decoder",
            "--checkpoint",
            str(trained_teacher),
            "--manifest",
            str(synth / "dev.jsonl"),
            "--lm",
            str(tmp_path / "lm.arpa"),
            "--alpha",
            "0,1",
            "--beta",
            "0",
            "--beam-width",
            "4",
            "--out",
            str(tmp_path / "dec.json"),
            "--json",
            str(tmp_path / "tune.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    tune = json.loads((tmp_path / "tune.json").read_text())
    assert len(tune["table"]) == 2 and json.loads((tmp_path / "dec.json").read_text())["alpha"] == tune["best"]["alpha"]
    r = runner.invoke(
        app,
        [
            "evaluate",
            "--checkpoint",
            str(trained_teacher),
            "--manifest",
            str(synth / "test.jsonl"),
            "--decoder-config",
            str(tmp_path / "dec.json"),
            "--compare-greedy",
            "--teacher",
            str(trained_teacher),
            "--phoenix-cleanup",
            "--stm",
            str(tmp_path / "r.stm"),
            "--ctm",
            str(tmp_path / "h.ctm"),
            "--json",
            str(tmp_path / "e.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    e = json.loads((tmp_path / "e.json").read_text())
    assert e["decoding"] == "beam" and "greedy" in e and "beam" in e and e["teacher"]["wer"] == e["wer"]
    assert e["cleanup"] == "phoenix" and (tmp_path / "r.stm").exists() and (tmp_path / "h.ctm").exists()


def test_decoder_errors(trained_teacher, synth, tmp_path):
    bad = tmp_path / "dec.json"
    bad.write_text('{"alpah": 1}')
    not_arpa = tmp_path / "lm.arpa"
    not_arpa.write_text("this is not a language model\n")
    for args in (
        ["--decoder-config", str(bad)],
        ["--lm", str(tmp_path / "missing.arpa")],
        ["--lm", str(not_arpa)] if HAS_LM else ["--decoder-config", str(tmp_path / "none.json")],
        ["--beam-width", "3", "--backend", "nope"],
    ):
        r = runner.invoke(app, ["evaluate", "--checkpoint", str(trained_teacher), "--manifest", str(synth / "dev.jsonl"), *args])
        assert r.exit_code == 2 and "Traceback" not in r.output, (args, r.output)
    r = runner.invoke(
        app,
        [
            "tune-decoder",
            "--checkpoint",
            str(trained_teacher),
            "--manifest",
            str(synth / "dev.jsonl"),
            "--lm",
            str(not_arpa),
            "--alpha",
            "1:0:-1",
            "--out",
            str(tmp_path / "d.json"),
        ],
    )
    assert r.exit_code == 2 and "start:stop:step" in r.output


def test_jiwer_wer_beside_sclite_costs():
    """jiwer minimizes edits, sclite weighted cost: here sclite's alignment has 6 errors, jiwer's 5."""
    from signdistill.evaluation.wer import jiwer_wer

    ref, hyp = ["A", "A", "B", "B", "B"], ["B", "C", "C", "A", "A"]
    assert word_error_rate([ref], [hyp]).wer == pytest.approx(120.0)
    assert jiwer_wer([ref], [hyp]) == pytest.approx(100.0)
    # usually the two agree
    assert jiwer_wer([["A", "B", "C"], ["D", "E"]], [["A", "X", "C", "Y"], []]) == pytest.approx(80.0)


def test_the_wer_table_shows_jiwers_column_only_when_it_was_computed():
    from rich.console import Console

    from signdistill.console import wer_table

    row = {"wer": 12.5, "substitutions": 1, "deletions": 0, "insertions": 0, "reference_words": 8, "sentence_error_rate": 50.0}

    def text(rows):
        c = Console(width=200, record=True)
        c.print(wer_table("t", rows))
        return c.export_text()

    assert "jiwer" not in text([("dev", row), ("test", row)])  # a training run's final scoring: no empty column
    shown = text([("dev", {**row, "wer_jiwer": 11.0}), ("test", row)])
    assert "WER % (jiwer)" in shown and "11.00" in shown
