import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from signdistill.cli import app
from signdistill.export import export, load_inference_model
from signdistill.parity import check_export

runner = CliRunner()
HAS_ORT = importlib.util.find_spec("onnx") is not None and importlib.util.find_spec("onnxruntime") is not None
needs_onnx = pytest.mark.skipif(not HAS_ORT, reason="needs the onnx extra")
ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def exports(trained_teacher, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    out = {
        "fp32": export(trained_teacher, root / "fp32"),
        "fp16": export(trained_teacher, root / "fp16", dtype="fp16"),
        "int8": export(trained_teacher, root / "int8", format="int8"),
    }
    if HAS_ORT:
        out["onnx"] = export(trained_teacher, root / "onnx", format="onnx")
    return out


@pytest.mark.parametrize("fmt", ["fp32", "fp16", "int8", "onnx"])
def test_parity_at_two_lengths_and_batch_sizes(exports, trained_teacher, synth, fmt):
    if fmt not in exports:
        pytest.skip("onnx extra not installed")
    # The tiny test set holds utterances of many lengths; batch sizes 1 and 8 mix them.
    res = check_export(trained_teacher, exports[fmt], synth / "test.jsonl", batch_sizes=(1, 8))
    assert set(res["by_batch_size"]) == {1, 8}
    if fmt in ("fp32", "onnx"):
        assert res["max_abs_logprob_diff"] < 1e-4
        assert res["identical_transcripts"] == 1.0
        assert res["wer_export"] == res["wer_reference"]
    else:  # reported, not required
        assert 0.0 <= res["identical_transcripts"] <= 1.0 and res["wer_export"] >= 0


@needs_onnx
def test_onnx_dynamic_axes(exports, trained_teacher):
    import numpy as np
    import torch

    onnx_model = load_inference_model(exports["onnx"])
    ref = load_inference_model(trained_teacher)
    for b, t in ((1, 7), (3, 300), (5, 41)):
        x = np.random.default_rng(t).standard_normal((b, t, ref.input_dim)).astype(np.float32)
        lengths = np.array([t] + [max(1, t // (k + 2)) for k in range(b - 1)])
        a, o = ref.log_probs(x, lengths), onnx_model.log_probs(x, lengths)
        for i, n in enumerate(lengths):
            assert np.abs(a[i, :n] - o[i, :n]).max() < 1e-4
    assert torch.get_num_threads() >= 1


def test_exports_hold_no_training_parts(exports):
    meta = json.loads((exports["fp32"] / "checkpoint.json").read_text())
    assert meta["config"] == {} and not (exports["fp32"] / "training_state.pt").exists()
    from safetensors.torch import load_file

    keys = set(load_file(str(exports["fp32"] / "model.safetensors")))
    assert not any("maps" in k or "projector" in k for k in keys)
    assert load_inference_model(exports["int8"]).kind == "int8"
    assert load_inference_model(exports["fp16"]).kind == "fp16"


@needs_onnx
def test_cli_export_check_and_benchmark(trained_teacher, synth, tmp_path):
    r = runner.invoke(
        app,
        [
            "export",
            "--checkpoint",
            str(trained_teacher),
            "--out",
            str(tmp_path / "o"),
            "--format",
            "onnx",
            "--check",
            str(synth / "test.jsonl"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "identical transcripts 100.0%" in r.output
    r = runner.invoke(
        app, ["benchmark", "--checkpoint", str(trained_teacher), "--frames", "50", "--repeats", "3", "--json", str(tmp_path / "b.json")]
    )
    assert r.exit_code == 0, r.output
    b = json.loads((tmp_path / "b.json").read_text())
    assert set(b) == {"fp32 (PyTorch)", "int8 (PyTorch dynamic)", "ONNX Runtime", "ONNX Runtime int8 (dynamic)"}
    assert all(v["frames_per_s_batch1"] > 0 and v["size_bytes"] > 0 for v in b.values())
    r = runner.invoke(app, ["benchmark", "--model", str(tmp_path / "o"), "--frames", "20", "--repeats", "3"])
    assert r.exit_code == 0, r.output


def test_export_errors(trained_teacher, tmp_path):
    for args in (["--format", "tflite"], ["--format", "onnx", "--dtype", "fp16"], ["--dtype", "bf8"]):
        r = runner.invoke(app, ["export", "--checkpoint", str(trained_teacher), "--out", str(tmp_path / "x"), *args])
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    r = runner.invoke(app, ["benchmark"])
    assert r.exit_code == 2 and "exactly one" in r.output


@needs_onnx
def test_onnx_example_runs_without_torch(exports, synth):
    feats = sorted((synth / "features").glob("test-*.npy"))[:2]
    code = (
        "import sys, runpy\n"
        "class Block:\n"
        "    def find_spec(self, name, *a, **k):\n"
        "        if name.split('.')[0] in ('torch', 'signdistill'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"sys.argv = ['onnx_inference.py', {str(exports['onnx'])!r}, *{[str(f) for f in feats]!r}]\n"
        f"runpy.run_path({str(ROOT / 'examples' / 'onnx_inference.py')!r}, run_name='__main__')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == 2
    onnx_model = load_inference_model(exports["onnx"])
    import numpy as np

    for line, f in zip(out, feats):
        x = onnx_model.normalizer(np.load(f))
        lp = onnx_model.log_probs(x[None], np.array([x.shape[0]]))[0]
        from signdistill.parity import _greedy

        assert line.split("\t")[1:] == ([" ".join(onnx_model.vocab.decode(_greedy(lp, x.shape[0])))] if _greedy(lp, x.shape[0]) else [""])


def test_benchmark_table_has_no_foreign_warnings_and_says_when_int8_does_not_pay(trained_teacher):
    from typer.testing import CliRunner

    from signdistill.cli import app

    r = CliRunner().invoke(app, ["benchmark", "--checkpoint", str(trained_teacher), "--frames", "40", "--repeats", "3"])
    assert r.exit_code == 0, r.output
    assert "Warning" not in r.output and "deprecated" not in r.output.lower()
    assert "int8 (PyTorch dynamic)" in r.output
    # this tiny model's layers are far too small for quantized kernels: the table must say so
    text = " ".join(r.output.split())
    assert "note: int8 (PyTorch dynamic) runs at" in text and "the speed of fp32 (PyTorch)" in text and "too small" in text


# -- ONNX int8 (onnxruntime quantization, stored int8 on disk) -------------------------------------


@pytest.fixture(scope="module")
def onnx_int8(trained_teacher, synth, tmp_path_factory):
    if not HAS_ORT:
        pytest.skip("needs the onnx extra")
    root = tmp_path_factory.mktemp("onnx_int8")
    return {
        "fp32": export(trained_teacher, root / "fp32", format="onnx"),
        "dynamic": export(trained_teacher, root / "dynamic", format="onnx-int8"),
        "static": export(trained_teacher, root / "static", format="onnx-int8", quantize="static", calibration=synth / "dev.jsonl"),
    }


def _ops(folder):
    import onnx

    return {n.op_type for n in onnx.load(str(folder / "model.onnx")).graph.node}


def test_onnx_int8_dynamic_is_int8_on_disk_and_decodes_like_the_checkpoint(onnx_int8, trained_teacher, synth):
    info = json.loads((onnx_int8["dynamic"] / "model.json").read_text())
    assert info["format"] == "onnx" and info["quantization"]["method"] == "dynamic" and info["meta"]["format"] == "onnx-int8"
    ops = _ops(onnx_int8["dynamic"])
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops  # every BiLSTM layer runs int8
    assert "MatMulInteger" in ops
    fp32_size = (onnx_int8["fp32"] / "model.onnx").stat().st_size
    assert (onnx_int8["dynamic"] / "model.onnx").stat().st_size < 0.6 * fp32_size
    assert load_inference_model(onnx_int8["dynamic"]).kind == "onnx-int8-dynamic"
    from signdistill.transcribe.model import model_kind  # what `evaluate --json` records as "format"

    assert model_kind(onnx_int8["dynamic"]) == "onnx-int8-dynamic" and model_kind(onnx_int8["static"]) == "onnx-int8-static"
    assert model_kind(onnx_int8["fp32"]) == "onnx" and model_kind(trained_teacher) == "fp32"
    res = check_export(trained_teacher, onnx_int8["dynamic"], synth / "test.jsonl")
    assert res["format"] == "onnx-int8-dynamic"
    assert 0 < res["max_abs_logprob_diff"] < 5.0  # quantized: not exact (2.0-2.5 on the trained models in docs/export.md)
    assert abs(res["wer_export"] - res["wer_reference"]) <= 5.0  # docs/export.md: within 0.15 points on two trained models


def test_onnx_int8_static_quantizes_what_onnxruntime_can(onnx_int8, trained_teacher, synth):
    info = json.loads((onnx_int8["static"] / "model.json").read_text())
    n_dev = len((synth / "dev.jsonl").read_text().splitlines())
    assert info["quantization"]["method"] == "static"
    assert f"calibrated on {min(100, n_dev)} utterances" in info["quantization"]["activations"]
    ops = _ops(onnx_int8["static"])
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and "LSTM" in ops  # no static int8 LSTM in onnxruntime
    res = check_export(trained_teacher, onnx_int8["static"], synth / "test.jsonl")
    assert res["format"] == "onnx-int8-static" and abs(res["wer_export"] - res["wer_reference"]) <= 5.0


@needs_onnx
def test_onnx_int8_option_errors_name_the_fix_and_write_nothing(trained_teacher, synth, tmp_path):
    bad_dim = tmp_path / "bad.jsonl"
    import numpy as np

    np.save(tmp_path / "f.npy", np.zeros((20, 3), np.float32))
    bad_dim.write_text(json.dumps({"id": "u1", "features": str(tmp_path / "f.npy"), "gloss": "A"}) + "\n")
    cases = [
        (["--format", "onnx-int8", "--quantize", "static"], "needs --calibration"),
        (["--format", "onnx", "--quantize", "dynamic"], "onnx-int8 only"),
        (["--format", "onnx-int8", "--calibration", str(synth / "dev.jsonl")], "--quantize static only"),
        (["--format", "onnx-int8", "--quantize", "fancy"], "'dynamic', 'static'"),
        (["--format", "onnx-int8", "--quantize", "static", "--calibration", str(tmp_path / "none.jsonl")], "none.jsonl does not exist"),
        (["--format", "onnx-int8", "--quantize", "static", "--calibration", str(bad_dim)], "f.npy"),
        (["--format", "onnx-int8", "--check", str(tmp_path / "missing.jsonl")], "--check"),
    ]
    for args, message in cases:
        r = runner.invoke(app, ["export", "--checkpoint", str(trained_teacher), "--out", str(tmp_path / "x"), *args])
        assert r.exit_code == 2 and "Traceback" not in r.output, (args, r.output)
        assert message in " ".join(r.output.split()), (args, r.output)
        assert not (tmp_path / "x").exists(), args


@needs_onnx
def test_onnx_int8_export_transcribes_without_torch(onnx_int8, synth):
    from tests.test_transcribe import run_without_torch

    r = run_without_torch("transcribe", "--model", onnx_int8["dynamic"], synth / "test.jsonl")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == len((synth / "test.jsonl").read_text().splitlines())


@needs_onnx
def test_benchmark_reports_onnx_int8_with_parity_and_wer(trained_teacher, synth, tmp_path):
    out = tmp_path / "b.json"
    args = ["benchmark", "--checkpoint", str(trained_teacher), "--frames", "30", "--repeats", "3", "--json", str(out)]
    r = runner.invoke(app, [*args, "--manifest", str(synth / "test.jsonl"), "--calibration", str(synth / "dev.jsonl")])
    assert r.exit_code == 0, r.output
    b = json.loads(out.read_text())
    assert list(b) == [
        "fp32 (PyTorch)",
        "int8 (PyTorch dynamic)",
        "ONNX Runtime",
        "ONNX Runtime int8 (dynamic)",
        "ONNX Runtime int8 (static)",
    ]
    assert "parity" not in b["fp32 (PyTorch)"]
    assert b["ONNX Runtime"]["parity"]["identical_transcripts"] == 1.0
    assert b["ONNX Runtime int8 (dynamic)"]["size_bytes"] < b["ONNX Runtime"]["size_bytes"]
    direct = check_export(trained_teacher, export(trained_teacher, tmp_path / "dyn", format="onnx-int8"), synth / "test.jsonl")
    assert b["ONNX Runtime int8 (dynamic)"]["parity"]["wer_export"] == direct["wer_export"]
    assert b["ONNX Runtime int8 (dynamic)"]["parity"]["wer_reference"] == direct["wer_reference"]
    assert b["ONNX Runtime"]["parity"]["wer_export"] == direct["wer_reference"]  # exact export, same WER
    assert "same transcripts" in " ".join(r.output.split())
    r = runner.invoke(app, ["benchmark", "--model", str(tmp_path), "--manifest", str(synth / "test.jsonl")])
    assert r.exit_code == 2 and "need --checkpoint" in r.output


@needs_onnx
def test_a_quantizer_failure_is_one_line_and_leaves_nothing(trained_teacher, tmp_path, monkeypatch):
    import tempfile

    from onnxruntime import quantization

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported node")

    monkeypatch.setattr(quantization, "quantize_dynamic", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    r = runner.invoke(app, ["export", "--checkpoint", str(trained_teacher), "--out", str(tmp_path / "out" / "x"), "--format", "onnx-int8"])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "could not quantize" in r.output and "unsupported node" in r.output
    assert not (tmp_path / "out" / "x").exists() and not list((tmp_path / "out").glob(".x.*"))
    assert not list((tmp_path / "scratch").iterdir())  # the fp32 scratch graph is gone too


@needs_onnx
def test_benchmark_checks_its_manifests_before_any_work(trained_teacher, synth, tmp_path, monkeypatch):
    import tempfile

    bad = tmp_path / "bad.jsonl"
    bad.write_text((synth / "test.jsonl").read_text().splitlines()[0] + "\n{not json\n")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    for flag in ("--manifest", "--calibration"):
        r = runner.invoke(app, ["benchmark", "--checkpoint", str(trained_teacher), "--frames", "20", "--repeats", "3", flag, str(bad)])
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert "bad.jsonl" in r.output and "line 2" in r.output, r.output
        assert not list((tmp_path / "scratch").iterdir())  # no temporary exports left behind


def test_export_check_manifest_is_read_before_exporting(trained_teacher, synth, tmp_path):
    import numpy as np

    np.save(tmp_path / "f.npy", np.zeros((20, 3), np.float32))
    wrong_dim = tmp_path / "wrong_dim.jsonl"
    wrong_dim.write_text(json.dumps({"id": "u1", "features": str(tmp_path / "f.npy"), "gloss": "A"}) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for bad in (wrong_dim, empty):
        r = runner.invoke(app, ["export", "--checkpoint", str(trained_teacher), "--out", str(tmp_path / "x"), "--check", str(bad)])
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert "--check" in r.output and bad.name in " ".join(r.output.split()), r.output
        assert not (tmp_path / "x").exists()  # nothing exported before the manifest was known to be good


def test_benchmark_names_the_option_for_a_wrong_folder(trained_teacher, exports, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    r = runner.invoke(app, ["benchmark", "--model", str(mine)])
    assert r.exit_code == 2 and "--model" in r.output and "signdistill export" in " ".join(r.output.split()), r.output
    assert (mine / "notes.txt").read_text() == "mine"
    if "onnx" in exports:
        r = runner.invoke(app, ["benchmark", "--checkpoint", str(exports["onnx"])])
        assert r.exit_code == 2 and "--model" in r.output and "ONNX export" in r.output, r.output


def test_benchmark_says_when_the_onnx_rows_are_left_out(trained_teacher, tmp_path, monkeypatch):
    from signdistill import export as export_mod
    from signdistill.errors import SignDistillError

    def missing():
        raise SignDistillError("ONNX export needs the optional package 'onnx'")

    monkeypatch.setattr(export_mod, "_require_onnx", missing)
    out = tmp_path / "b.json"
    r = runner.invoke(app, ["benchmark", "--checkpoint", str(trained_teacher), "--frames", "20", "--repeats", "3", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert set(json.loads(out.read_text())) == {"fp32 (PyTorch)", "int8 (PyTorch dynamic)"}
    assert "ONNX rows are left out" in " ".join(r.output.split()) and "signdistill[onnx]" in r.output
