"""Students that subsample time (model.temporal_stride): exact on padded batches, lengths, checkpoints, training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from signdistill import pipelines
from signdistill.checkpoint import load_checkpoint
from signdistill.config import load_config
from signdistill.errors import CheckpointError
from signdistill.models import CTCModel, ModelSpec
from signdistill.models.subsample import TemporalSubsampler, subsampled_lengths
from tests.conftest import make_run_config


@pytest.mark.parametrize("stride", [2, 4])
def test_an_utterances_output_does_not_depend_on_its_batch(stride):
    torch.manual_seed(0)
    m = CTCModel(ModelSpec(input_dim=6, vocab_size=5, hidden=8, layers=2, input_proj=8, dropout=0.0, temporal_stride=stride)).eval()
    lengths = torch.tensor([23, 9, 1, 16])
    x = torch.randn(4, 23, 6)
    x[torch.arange(23)[None, :] >= lengths[:, None]] = 0.0
    with torch.no_grad():
        out = m(x, lengths, return_hidden=True)
        assert out.lengths.tolist() == [-(-n // stride) for n in lengths.tolist()]  # ceil(L / stride)
        assert out.logits.shape[1] == -(-23 // stride)
        for b, n in enumerate(lengths.tolist()):
            alone = m(x[b : b + 1, :n], lengths[b : b + 1])
            k = int(alone.lengths[0])
            assert torch.allclose(out.logits[b, :k], alone.logits[0], atol=1e-5), b


def test_stride_1_builds_no_front_end_and_lengths_follow_the_pooling():
    m = CTCModel(ModelSpec(input_dim=4, vocab_size=3, hidden=4, layers=1, input_proj=4))
    assert m.subsample is None and not any(k.startswith("subsample") for k in m.state_dict())
    assert subsampled_lengths(torch.tensor([1, 2, 3, 4, 5, 8, 9]), 4).tolist() == [1, 1, 1, 1, 2, 2, 3]
    with pytest.raises(ValueError, match="one of"):
        TemporalSubsampler(4, 3)


def test_strided_teacher_trains_evaluates_and_its_checkpoint_round_trips(synth, tmp_path):
    c = make_run_config(tmp_path / "run", synth, epochs=2)
    c["model"]["temporal_stride"] = 2
    result, scores = pipelines.train(load_config(None, [], data=c))
    assert result.epochs_run == 2 and 0 <= scores["test"]["wer"] <= 100 and scores["dev"]["sentences"] > 0
    ckpt = load_checkpoint(tmp_path / "run" / "best")
    assert ckpt.spec.temporal_stride == 2
    meta = tmp_path / "run" / "best" / "checkpoint.json"
    info = json.loads(meta.read_text())
    info["model"]["temporal_stride"] = 3
    meta.write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="temporal_stride.*1, 2 or 4"):
        load_checkpoint(tmp_path / "run" / "best")


def test_config_refuses_other_strides(synth, tmp_path):
    from signdistill.errors import ConfigError

    c = make_run_config(tmp_path / "run", synth)
    c["model"]["temporal_stride"] = 3
    with pytest.raises(ConfigError, match="temporal_stride"):
        load_config(None, [], data=c)


def test_utterances_too_short_for_the_stride_are_named(synth, tmp_path, caplog):
    import logging

    import numpy as np

    from signdistill.data import read_manifest

    first = read_manifest(synth / "train.jsonl")[0]
    np.save(tmp_path / "short.npy", np.load(first.features)[:5])  # 5 frames: 2 after a stride of 4
    lines = (synth / "train.jsonl").read_text().splitlines()
    lines = [json.dumps({**json.loads(x), "features": str(synth / json.loads(x)["features"])}) for x in lines]
    gloss = " ".join(first.glosses[:3]) if len(first.glosses) >= 3 else "A B C"
    lines.append(json.dumps({"id": "too-short", "features": str(tmp_path / "short.npy"), "gloss": gloss}))
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    c = make_run_config(tmp_path / "run", synth)
    c["data"]["train"] = str(tmp_path / "train.jsonl")
    c["model"]["temporal_stride"] = 4
    with caplog.at_level(logging.WARNING, logger="signdistill.pipelines.training"):
        pipelines.load_splits(load_config(None, [], data=c))
    assert "too few frames" in caplog.text and "too-short" in caplog.text
    caplog.clear()
    c["model"]["temporal_stride"] = 1
    with caplog.at_level(logging.WARNING, logger="signdistill.pipelines.training"):
        pipelines.load_splits(load_config(None, [], data=c))
    assert "too few frames" not in caplog.text


@pytest.mark.parametrize(("teacher_stride", "student_stride"), [(1, 4), (4, 1), (2, 2)])
def test_distilling_across_frame_rates_trains(synth, tmp_path, teacher_stride, student_stride):
    from signdistill.config import DistillRunConfig

    t = make_run_config(tmp_path / "teacher", synth, epochs=1, layers=2, hidden=16)
    t["model"]["temporal_stride"] = teacher_stride
    pipelines.train(load_config(None, [], data=t))
    s = make_run_config(tmp_path / "student", synth, epochs=1)
    s["model"]["temporal_stride"] = student_stride
    s["distill"] = {"teachers": [{"checkpoint": str(tmp_path / "teacher" / "best")}]}  # the default: FitNets + factorized + CTC
    s["distill"]["loss"] = {"ctc": 0.5, "feature": 1.0, "factorized": 0.5, "kl": 0.5}
    result, _ = pipelines.distill(load_config(None, [], DistillRunConfig, data=s))
    last = result.history[-1]
    assert all(torch.isfinite(torch.tensor(last[f"train/{k}"])) for k in ("ctc", "feature", "factorized", "kl"))


def test_teacher_targets_at_the_same_rate_are_untouched_and_a_cache_becomes_dense():
    from signdistill.losses.terms import TeacherTargets

    logits = torch.randn(2, 8, 5)
    lengths = torch.tensor([8, 5])
    t = TeacherTargets(logits, lengths=lengths)
    assert t.at_rate(lengths, lengths, 8, 5) is t
    values, indices = torch.log_softmax(logits, -1).topk(3, -1)
    cached = TeacherTargets(topk=(values.half(), indices.short()), lengths=lengths).at_rate(lengths, torch.tensor([16, 10]), 16, 5)
    lp = cached.logits
    assert lp.shape == (2, 16, 5) and torch.allclose(lp[0].exp().sum(-1), torch.ones(16), atol=1e-5)
    renorm = torch.softmax(values[0, 0].float(), -1)
    assert torch.allclose(lp[0, 0].exp()[indices[0, 0]], renorm, atol=1e-3)  # frame 0 lies inside teacher frame 0


def test_transcribe_times_of_a_strided_model_are_in_input_frames_for_checkpoint_and_onnx(synth, tmp_path):
    import shutil

    from safetensors import safe_open
    from safetensors.torch import load_file
    from typer.testing import CliRunner

    from signdistill.checkpoint import save_weights
    from signdistill.cli import app

    c = make_run_config(tmp_path / "run", synth, epochs=1)
    c["model"]["temporal_stride"] = 4
    pipelines.train(load_config(None, [], data=c))
    best = tmp_path / "talking"
    shutil.copytree(tmp_path / "run" / "best", best)
    weights = load_file(str(best / "model.safetensors"))
    with safe_open(str(best / "model.safetensors"), "pt") as f:
        meta = f.metadata()
    weights["classifier.bias"][0] -= 30.0  # never blank: every output frame is a gloss
    save_weights(weights, best / "model.safetensors", meta)
    runner = CliRunner()
    assert runner.invoke(app, ["export", "--checkpoint", str(best), "--out", str(tmp_path / "onnx"), "--format", "onnx"]).exit_code == 0
    first = json.loads((synth / "dev.jsonl").read_text().splitlines()[0])
    frames = np.load(synth / first["features"]).shape[0]
    for model in (best, tmp_path / "onnx"):
        out = tmp_path / f"{model.name}.ctm"
        r = runner.invoke(app, ["transcribe", str(synth / "dev.jsonl"), "--model", str(model), "--format", "ctm", "--out", str(out)])
        assert r.exit_code == 0, r.output
        rows = [x.split() for x in out.read_text().splitlines() if x.startswith(first["id"] + " ")]
        last_end = max(float(row[2]) + float(row[3]) for row in rows)  # seconds at 25 frames/s
        assert last_end * 25 == pytest.approx(frames, abs=0.05), (last_end, frames)  # the input's last frame, not ~frames / 4
    assert (tmp_path / "talking.ctm").read_text() == (tmp_path / "onnx.ctm").read_text()
