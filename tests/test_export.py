import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from signdistill.cli import app
from signdistill.export import check_export, export, load_inference_model

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
        x = np.random.default_rng(t).standard_normal((b, t, ref.spec.input_dim)).astype(np.float32)
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
    assert set(b) == {"fp32 (PyTorch)", "int8 (PyTorch dynamic)", "ONNX Runtime"}
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
        from signdistill.export import _greedy

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
    assert "int8 is" in text and "slower than fp32" in text
