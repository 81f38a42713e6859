"""Typed results: each ``to_dict()`` has exactly the documented keys, in the order the commands write them."""

from __future__ import annotations

import json

from signdistill.decoding.beam import DecoderConfig
from signdistill.evaluation.report import ReportRow
from signdistill.evaluation.scoring import DecodingScore, score, score_decoding
from signdistill.pipelines.decoding_results import EvalResult, LmBuildResult, ReportResult, TuningResult, TuningRow

WER_KEYS = ["wer", "substitutions", "deletions", "insertions", "reference_words", "sentences", "sentence_error_rate", "per_signer"]
SCORE_KEYS = [*WER_KEYS, "wer_jiwer", "blank_rate", "hypotheses"]


def _score(with_jiwer: bool = True) -> DecodingScore:
    return score_decoding([["A", "B"], ["C"]], [["A"], []], ["u1", "u2"], ["s1", None], with_jiwer=with_jiwer)


def test_decoding_score_keys_and_values():
    s = _score()
    assert list(s.to_dict()) == SCORE_KEYS
    assert s.wer == 200 / 3 and s.blank_rate == 0.5 and s.hypotheses == {"u1": "A", "u2": ""}
    assert list(_score(with_jiwer=False).to_dict()) == [k for k in SCORE_KEYS if k != "wer_jiwer"]
    assert score([["A", "B"], ["C"]], [["A"], []], ["u1", "u2"], ["s1", None]) == s.to_dict()  # the dict form is the same
    json.dumps(s.to_dict())


def test_eval_result_keys():
    greedy = EvalResult("fp32", 123, None, {"greedy": _score()}, "greedy")
    assert list(greedy.to_dict()) == ["format", "parameters", "cleanup", "greedy", *SCORE_KEYS, "decoding"]
    beam = EvalResult("onnx", 123, "phoenix", {"greedy": _score(), "beam": _score()}, "beam", DecoderConfig(), checkpoint="c", manifest="m")
    beam.teacher = greedy
    d = beam.to_dict()
    head = ["checkpoint", "manifest", "format", "parameters", "cleanup", "decoder", "greedy", "beam"]
    assert list(d) == [*head, *SCORE_KEYS, "decoding", "teacher"]
    assert d["decoder"] == DecoderConfig().to_dict() and d["decoding"] == "beam" and d["wer"] == beam.wer == d["beam"]["wer"]
    assert d["teacher"] == greedy.to_dict()
    json.dumps(d)


def test_tuning_result_keys():
    rows = [TuningRow(0.0, 0.0, 50.0), TuningRow(0.5, 1.0, 40.0)]
    d = TuningResult(60.0, rows, rows[1], "dec.json").to_dict()
    assert list(d) == ["greedy_wer", "table", "best", "decoder_config"]
    assert d["table"] == [{"alpha": 0.0, "beta": 0.0, "wer": 50.0}, {"alpha": 0.5, "beta": 1.0, "wer": 40.0}]
    assert d["best"] == {"alpha": 0.5, "beta": 1.0, "wer": 40.0}


def test_report_result_keys():
    row = ReportRow("t", "greedy", 10, 12.5, 1, 2, 3, 50.0)
    assert list(row.to_dict()) == [
        "model", "decoder", "parameters", "wer", "substitutions", "deletions", "insertions", "sentence_error_rate",
    ]  # fmt: skip
    assert list(ReportResult("m", [row], ["wer.png"], "u1").to_dict()) == ["manifest", "rows", "plots", "utterance"]
    skipped = ReportResult("m", [row], [], "u1", "no plots").to_dict()
    assert list(skipped) == ["manifest", "rows", "plots", "utterance", "plots_skipped"] and skipped["rows"] == [row.to_dict()]


def test_lm_build_result_keys():
    assert LmBuildResult("m", "lm.arpa", 3, 10, 20).to_dict() == {
        "manifest": "m", "out": "lm.arpa", "order": 3, "sentences": 10, "vocabulary": 20,
    }  # fmt: skip


COMPARE_KEYS = [
    "schema", "warnings", "method", "confidence", "bootstrap", "seeds", "epochs", "tune", "test_utterances",
    "test_reference_glosses", "dev_reference_glosses", "teacher", "recipes", "seconds", "figures",
]  # fmt: skip


def test_compare_results_round_trip_results_json():
    from signdistill.pipelines.compare_results import CompareResults, CompareSubmitted

    d = {k: i for i, k in enumerate(COMPARE_KEYS)} | {"teacher": {"dev_wer": 1.0}, "recipes": {"ctc": {"verdict": "baseline"}}}
    assert list(CompareResults.from_dict(d).to_dict()) == COMPARE_KEYS and CompareResults.from_dict(d).to_dict() == d
    skipped = d | {"figures": [], "figures_skipped": "no matplotlib"}
    assert (
        CompareResults.from_dict(skipped).to_dict() == skipped
        and list(CompareResults.from_dict(skipped).to_dict())[-1] == "figures_skipped"
    )
    assert CompareSubmitted("out", ["1"], ["ctc/seed0"]).to_dict() == {
        "detached": True, "out": "out", "submitted": ["1"], "waiting": ["ctc/seed0"],
    }  # fmt: skip


def test_quickstart_report_keys():
    from signdistill.pipelines.compare_results import QuickstartReport

    base = {"size": "small", "seeds": [0], "interval": "95 %", "models": {}, "distilled_vs_student": {}, "compare": "c", "figures": []}
    full = base | {"figures_skipped": "none", "warning": "did not learn", "criteria": {"size unchanged": {"result": "pass"}}}
    assert QuickstartReport.from_dict(full).to_dict() == full and list(QuickstartReport.from_dict(full).to_dict()) == list(full)
    plain = base | {"criteria": {}}
    assert list(QuickstartReport.from_dict(plain).to_dict()) == [*base, "criteria"]
