import json

import pytest
import torch
import yaml
from typer.testing import CliRunner

from signdistill import pipelines
from signdistill.cli import app
from signdistill.config import DistillRunConfig, load_config
from signdistill.errors import CheckpointError
from signdistill.recipes import recipe_names
from signdistill.training import load_checkpoint
from signdistill.training.distill import DistillObjective
from tests.conftest import make_run_config

runner = CliRunner()


def distill_cfg(tmp_path, synth, teacher, **distill):
    data = make_run_config(tmp_path / "student", synth, epochs=2)
    data["distill"] = {"teachers": [{"checkpoint": str(teacher)}], "loss": {"kl": 0.5, "ctc": 0.5}, "temperature": 1.0, **distill}
    return data


def test_distill_cli_end_to_end_logs_components(synth, trained_teacher, tmp_path):
    data = distill_cfg(
        tmp_path,
        synth,
        trained_teacher,
        loss={"kl": 0.7, "ctc": 0.2, "feature": 0.1},
        feature_layers=[[2, 1]],
        temperature={"kind": "piecewise", "values": [4.0, 3.5], "boundaries": [1]},
    )
    cfg = tmp_path / "d.yaml"
    cfg.write_text(yaml.safe_dump(data))
    before = {k: v.clone() for k, v in load_checkpoint(trained_teacher).model.state_dict().items()}
    r = runner.invoke(app, ["distill", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    epochs = [json.loads(x) for x in (tmp_path / "student" / "metrics.jsonl").read_text().splitlines()]
    epochs = [e for e in epochs if e["kind"] == "epoch"]
    assert [e["temperature"] for e in epochs] == [4.0, 3.5]
    assert {"train/kl", "train/ctc", "train/feature", "train/total"} <= set(epochs[0])
    # The exported student holds the student only: no projection weights.
    keys = set(load_checkpoint(tmp_path / "student" / "best").model.state_dict())
    assert not any("maps" in k or "projector" in k for k in keys)
    # The teacher is untouched.
    after = load_checkpoint(trained_teacher).model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # Projections do live in the training state (for resume).
    state = torch.load(tmp_path / "student" / "last" / "training_state.pt", weights_only=True)
    assert any("maps" in k for k in state["objective"])


def test_teacher_frozen_no_grad_no_optimizer_state(synth, trained_teacher, tmp_path):
    cfg = load_config(None, [], DistillRunConfig, data=distill_cfg(tmp_path, synth, trained_teacher))
    splits = pipelines.load_splits(cfg)
    obj = pipelines.build_distill_objective(cfg, splits, torch.device("cpu"))
    assert isinstance(obj, DistillObjective)
    assert list(obj.parameters()) == []  # no projector, and teachers are not registered
    obj.train()
    teacher = obj._teachers[0]
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_refuses_mismatched_teacher(synth, trained_teacher, tmp_path):
    import shutil

    bad = tmp_path / "teacher"
    shutil.copytree(trained_teacher, bad)
    meta = json.loads((bad / "checkpoint.json").read_text())
    meta["vocabulary"] = meta["vocabulary"][:-1] + ["SOMETHING_ELSE"]
    (bad / "checkpoint.json").write_text(json.dumps(meta))
    cfg = load_config(None, [], DistillRunConfig, data=distill_cfg(tmp_path, synth, bad))
    with pytest.raises(CheckpointError, match="different gloss vocabulary"):
        pipelines.distill(cfg)
    meta = json.loads((trained_teacher / "checkpoint.json").read_text())
    meta["normalizer"]["mean"][0] += 1.0
    (bad / "checkpoint.json").write_text(json.dumps(meta))
    cfg = load_config(None, ["run_dir=" + str(tmp_path / "s2")], DistillRunConfig, data=distill_cfg(tmp_path, synth, bad))
    with pytest.raises(CheckpointError, match="normalizes features"):
        pipelines.distill(cfg)


def test_feature_layer_past_depth_is_a_config_error(synth, trained_teacher, tmp_path):
    cfg = load_config(
        None,
        [],
        DistillRunConfig,
        data=distill_cfg(tmp_path, synth, trained_teacher, loss={"kl": 0.5, "ctc": 0.5, "feature": 0.1}, feature_layers=[[4, 1]]),
    )
    with pytest.raises(Exception, match="teacher layer 4 does not exist"):
        pipelines.distill(cfg)


def test_cache_teacher_then_distill_from_cache(synth, trained_teacher, tmp_path):
    data = distill_cfg(tmp_path, synth, trained_teacher, topk=4)
    cfg_file = tmp_path / "d.yaml"
    cfg_file.write_text(yaml.safe_dump(data))
    r = runner.invoke(app, ["cache-teacher", "--config", str(cfg_file), "--out", str(tmp_path / "cache"), "--topk", "4"])
    assert r.exit_code == 0, r.output
    info = json.loads((tmp_path / "cache" / "index.json").read_text())
    assert info["topk"] == 4 and info["bytes_per_frame"] == 16.0  # 4 x (fp16 + int16)
    # Online top-k and cached top-k give the same loss on the same batch.
    online = load_config(None, [], DistillRunConfig, data=data)
    cached = load_config(None, [f"distill.teacher_cache={tmp_path / 'cache'}"], DistillRunConfig, data=data)
    splits = pipelines.load_splits(online)
    from signdistill.data import collate
    from signdistill.training.trainer import seed_everything

    batch = collate([splits.train[i] for i in range(4)])
    seed_everything(0)
    student = load_checkpoint(trained_teacher).model  # any model of the right vocabulary
    losses = []
    for cfg in (online, cached):
        obj = pipelines.build_distill_objective(cfg, splits, torch.device("cpu"))
        obj.on_epoch_start(1)
        losses.append(obj(student.eval(), batch).parts["kl"])
    assert losses[0] == pytest.approx(losses[1], rel=2e-3)
    result, scores = pipelines.distill(cached)
    assert result.epochs_run == 2 and "test" in scores


def test_sequence_kd_and_multi_teacher(synth, trained_teacher, tmp_path):
    data = distill_cfg(tmp_path, synth, trained_teacher, loss={"kl": 0.5, "ctc": 0.2, "sequence": 0.3})
    data["distill"]["teachers"].append({"checkpoint": str(trained_teacher), "weight": 2.0})
    result, _ = pipelines.distill(load_config(None, [], DistillRunConfig, data=data))
    assert "train/sequence" in result.history[-1] and "train/kl" in result.history[-1]


def test_ctc_warmup_and_ramp(synth, trained_teacher, tmp_path):
    data = distill_cfg(tmp_path, synth, trained_teacher, ctc_warmup_epochs=1, kd_ramp_epochs=2)
    data["train"]["epochs"] = 3
    result, _ = pipelines.distill(load_config(None, [], DistillRunConfig, data=data))
    assert [h["kd_scale"] for h in result.history] == [0.0, 0.5, 1.0]
    assert "train/kl" not in result.history[0] and "train/kl" in result.history[1]


def test_collapse_to_blank_is_detected(synth, trained_teacher, tmp_path):
    from signdistill.training import CollapseError, save_checkpoint

    # A teacher that says blank on every frame, followed by KL alone: the student collapses.
    t = load_checkpoint(trained_teacher)
    with torch.no_grad():
        t.model.classifier.bias[0] = 100.0
    save_checkpoint(tmp_path / "blank_teacher", t.model, t.vocab, t.normalizer)
    data = distill_cfg(tmp_path, synth, tmp_path / "blank_teacher", loss={"kl": 1.0, "ctc": 0.0}, blank_mode="keep")
    data["train"].update(epochs=4, collapse_patience=1)
    data["optim"]["lr"] = 0.02
    with pytest.raises(CollapseError, match="collapsed to blank"):
        pipelines.distill(load_config(None, [], DistillRunConfig, data=data))
    assert (tmp_path / "student" / "last").exists()


@pytest.mark.slow
def test_quickstart_small(tmp_path):
    r = runner.invoke(app, ["quickstart", "--out", str(tmp_path / "qs"), "--size", "small", "--jobs", "2"])
    assert r.exit_code == 0, r.output
    assert "trains 3 models" in " ".join(r.output.split())
    report = json.loads((tmp_path / "qs" / "report.json").read_text())
    assert set(report["models"]) == {"teacher", "student", "distilled"}
    assert report["criteria"]["size unchanged"]["value"].endswith("bytes")
    assert report["models"]["distilled"]["frames_per_s"] > 30
    # The verdict comes from an interval, never from one difference.
    beats = report["criteria"]["distillation beats baseline (greedy)"]
    assert beats["ci_low"] <= beats["difference"] <= beats["ci_high"]
    expected = "pass (1 seed)" if beats["ci_high"] < 0 else ("fail (1 seed)" if beats["ci_low"] > 0 else "within noise")
    if report.get("warning"):  # tiny models that learned nothing: no criterion is claimed
        assert "did not learn" in report["warning"]
        assert {v["result"] for k, v in report["criteria"].items() if not k.startswith(("size", "speed"))} == {"not meaningful"}
        assert report["criteria"]["size unchanged"]["result"] == "pass"
    else:
        assert beats["result"] == expected
    assert "one seed: test-set noise only" in report["interval"]
    assert (tmp_path / "qs" / "compare.yaml").exists() and (tmp_path / "qs" / "compare" / "results.json").exists()
    # Run again: an earlier quickstart is resumed, nothing is retrained.
    again = runner.invoke(app, ["quickstart", "--out", str(tmp_path / "qs"), "--size", "small", "--jobs", "2"])
    assert again.exit_code == 0 and again.output.count("(reused)") >= 3


def test_quickstart_refuses_a_foreign_folder_even_with_overwrite(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    for extra in ([], ["--overwrite"]):
        r = runner.invoke(app, ["quickstart", "--out", str(foreign), "--size", "small", *extra])
        assert r.exit_code == 2, r.output
        assert "not a quickstart folder" in " ".join(r.output.split())
        if not extra:
            assert "trains 3 models" not in " ".join(r.output.split())  # the refusal comes first, alone
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"] and (foreign / "notes.txt").read_text() == "keep me"


def test_quickstart_overwrite_deletes_only_its_own_files(tmp_path):
    from signdistill.pipelines import QUICKSTART_MARKER

    qs = tmp_path / "qs"
    qs.mkdir()
    (qs / QUICKSTART_MARKER).write_text(json.dumps({"size": "small", "seed": 0, "seeds": 1, "recipe": None}))
    (qs / "my_notes.md").write_text("mine")
    r = runner.invoke(app, ["quickstart", "--out", str(qs), "--size", "small", "--overwrite"])
    assert r.exit_code == 2 and "did not write" in " ".join(r.output.split())
    assert (qs / "my_notes.md").read_text() == "mine"
    # other settings than the earlier quickstart: refused without --overwrite, naming them
    (qs / "my_notes.md").unlink()
    r = runner.invoke(app, ["quickstart", "--out", str(qs), "--size", "small", "--seed", "3"])
    assert r.exit_code == 2 and "--seed 0" in r.output


def test_guided_teacher_and_aligned_kd(synth, trained_teacher, tmp_path):
    cfg = make_run_config(tmp_path / "guided", synth, epochs=1, layers=2, hidden=16)
    cfg["guide"] = {"checkpoint": str(trained_teacher), "weight": 0.5}
    result, _ = pipelines.train(load_config(None, [], data=cfg))
    assert "train/guided" in result.history[0] and result.history[0]["train/guided"] <= 0
    data = distill_cfg(tmp_path, synth, tmp_path / "guided" / "best", loss={"kl": 0.0, "ctc": 0.5, "aligned": 0.5}, blank_mode="keep")
    result, _ = pipelines.distill(load_config(None, [], DistillRunConfig, data=data))
    assert "train/aligned" in result.history[0]
    feature = distill_cfg(tmp_path, synth, tmp_path / "guided" / "best", loss={"ctc": 0.5, "feature": 1.0})
    with pytest.raises(Exception, match="not its hidden states"):
        load_config(None, [f"distill.teacher_cache={tmp_path}"], DistillRunConfig, data=feature)


def test_a_cache_with_every_class_serves_the_full_posterior_terms_like_the_online_teacher(synth, trained_teacher, tmp_path):
    data = distill_cfg(tmp_path, synth, trained_teacher, loss={"ctc": 0.5, "factorized": 0.5, "shift": 0.5})
    cfg_file = tmp_path / "d.yaml"
    cfg_file.write_text(yaml.safe_dump(data))
    v = len(load_checkpoint(trained_teacher).vocab)
    r = runner.invoke(app, ["cache-teacher", "--config", str(cfg_file), "--out", str(tmp_path / "cache"), "--topk", str(v)])
    assert r.exit_code == 0, r.output
    online = load_config(None, [], DistillRunConfig, data=data)
    cached = load_config(None, [f"distill.teacher_cache={tmp_path / 'cache'}"], DistillRunConfig, data=data)
    splits = pipelines.load_splits(online)
    from signdistill.data import collate

    batch = collate([splits.train[i] for i in range(5)])
    student = load_checkpoint(trained_teacher).model.eval()
    parts = []
    for cfg in (online, cached):
        obj = pipelines.build_distill_objective(cfg, splits, torch.device("cpu"))
        obj.on_epoch_start(1)
        parts.append(obj(student, batch).parts)
    for term in ("factorized", "shift"):
        assert parts[0][term] == pytest.approx(parts[1][term], rel=5e-3, abs=1e-4)  # fp16 rounding of the cache


def test_kd_last_epoch_switches_to_ctc_only(synth, trained_teacher, tmp_path):
    data = distill_cfg(tmp_path, synth, trained_teacher, kd_last_epoch=1)
    data["train"]["epochs"] = 2
    result, _ = pipelines.distill(load_config(None, [], DistillRunConfig, data=data))
    assert [h["kd_scale"] for h in result.history] == [1.0, 0.0]


@pytest.mark.parametrize("name", [n for n in recipe_names() if n != "ctc"])
def test_every_named_recipe_builds_and_trains(name, synth, trained_teacher, tmp_path):
    """Each recipe `compare` can run is a valid distill section whose loss parts are logged."""
    from signdistill.recipes import resolve_recipe

    recipe = resolve_recipe(name, epochs=1, teacher_layers=2, student_layers=1)
    assert recipe is not None
    data = make_run_config(tmp_path / "student", synth, epochs=1)
    data["distill"] = {"teachers": [{"checkpoint": str(trained_teacher)}], **recipe}
    cfg = load_config(None, [], DistillRunConfig, data=data)
    pipelines.distill(cfg)
    epoch = [json.loads(x) for x in (tmp_path / "student" / "metrics.jsonl").read_text().splitlines() if '"epoch"' in x][-1]
    weights = {k: v for k, v in recipe["loss"].items() if v > 0}
    assert {f"train/{k}" for k in weights} <= set(epoch)


def test_ensemble_cache_and_online_teachers_agree_at_t2(synth, trained_teacher, tmp_path):
    """Two different teachers at T = 2: the cache (the T = 1 mixture's top-k) and the online ensemble
    give the same frame KL, because both temper the mixture (signdistill.losses.teacher_log_probs)."""
    from signdistill.data import collate
    from signdistill.losses import ConstantSchedule, DistillationLoss
    from signdistill.training.distill import TeacherCache, write_teacher_cache

    cfg = load_config(None, [], DistillRunConfig, data=distill_cfg(tmp_path, synth, trained_teacher))
    splits = pipelines.load_splits(cfg)
    first, second = load_checkpoint(trained_teacher).model, load_checkpoint(trained_teacher).model
    torch.manual_seed(0)
    with torch.no_grad():
        for p in second.parameters():
            p.add_(0.3 * torch.randn_like(p))  # a second, different teacher
    weights = [1.0, 2.0]
    v = len(splits.vocab)
    write_teacher_cache([first, second], weights, splits.train, tmp_path / "cache", topk=v)
    batch = collate([splits.train[i] for i in range(4)])
    student = load_checkpoint(trained_teacher).model.eval()
    kl = []
    for source in ({"teachers": [first, second], "teacher_weights": weights}, {"cache": TeacherCache(tmp_path / "cache")}):
        obj = DistillObjective(DistillationLoss(kl=0.5, ctc=0.5, blank_mode="keep"), ConstantSchedule(2.0), **source)
        obj.on_epoch_start(1)
        kl.append(obj(student, batch).parts["kl"])
    assert kl[0] == pytest.approx(kl[1], rel=2e-3)


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_a_cheaper_teacher_precision_trains_and_stays_close_to_fp32(synth, trained_teacher, tmp_path, precision):
    data = distill_cfg(tmp_path, synth, trained_teacher, loss={"ctc": 0.5, "factorized": 0.5, "feature": 1.0})
    data["distill"]["teacher_precision"] = precision
    cfg = load_config(None, [], DistillRunConfig, data=data)
    splits = pipelines.load_splits(cfg)
    from signdistill.data import collate

    batch = collate([splits.train[i] for i in range(4)])
    student = pipelines.build_student_model(cfg, splits).eval()
    parts = []
    for c in (load_config(None, ["distill.teacher_precision=fp32"], DistillRunConfig, data=data), cfg):
        torch.manual_seed(0)  # the same FitNets regressor
        obj = pipelines.build_distill_objective(c, splits, torch.device("cpu"))
        obj.on_epoch_start(1)
        parts.append(obj(student, batch).parts)
    assert parts[0]["factorized"] != parts[1]["factorized"]  # another teacher arithmetic ...
    assert parts[1]["factorized"] == pytest.approx(parts[0]["factorized"], rel=0.1, abs=0.02)  # ... close to fp32
    result, _ = pipelines.distill(cfg)
    assert result.epochs_run == 2


def test_auto_teacher_precision_is_int8_on_the_cpu_and_fp32_on_a_gpu(synth, trained_teacher, tmp_path):
    from signdistill.errors import ConfigError
    from signdistill.pipelines.training import teacher_precision

    assert teacher_precision("auto", torch.device("cpu")) == "int8"
    assert teacher_precision("auto", torch.device("cuda")) == "fp32"
    with pytest.raises(ConfigError, match="CPU only"):
        teacher_precision("int8", torch.device("cuda"))
    data = distill_cfg(tmp_path, synth, trained_teacher, loss={"ctc": 0.5, "factorized": 0.5})
    assert load_config(None, [], DistillRunConfig, data=data).distill.teacher_precision == "fp32"  # the default
    splits = pipelines.load_splits(load_config(None, [], DistillRunConfig, data=data))
    from signdistill.data import collate

    batch = collate([splits.train[i] for i in range(4)])
    student = pipelines.build_student_model(load_config(None, [], DistillRunConfig, data=data), splits).eval()
    parts = {}
    for precision in ("auto", "int8", "fp32"):
        c = load_config(None, [f"distill.teacher_precision={precision}"], DistillRunConfig, data=data)
        obj = pipelines.build_distill_objective(c, splits, torch.device("cpu"))
        obj.on_epoch_start(1)
        parts[precision] = obj(student, batch).parts["factorized"]
    assert parts["auto"] == parts["int8"] != parts["fp32"]


def test_a_teacher_cache_is_written_by_the_teacher_as_trained_whatever_the_precision(synth, trained_teacher, tmp_path):
    data = distill_cfg(tmp_path, synth, trained_teacher, loss={"ctc": 0.5, "kl": 0.5})
    written = []
    for precision in ("fp32", "int8"):
        cfg = load_config(None, [f"distill.teacher_precision={precision}"], DistillRunConfig, data=data)
        pipelines.cache_teacher(cfg, tmp_path / precision, topk=3)
        written.append(sorted((p.relative_to(tmp_path / precision), p.read_bytes()) for p in (tmp_path / precision).rglob("*.safetensors")))
    assert written[0] and written[0] == written[1]


def test_auto_falls_back_to_fp32_where_torch_cannot_quantize(monkeypatch, caplog):
    import signdistill.inference
    from signdistill.errors import ConfigError
    from signdistill.pipelines.training import _at_precision

    def gone(model):
        raise AttributeError("module 'torch.ao' has no attribute 'quantization'")

    monkeypatch.setattr(signdistill.inference, "quantize_int8", gone)
    model = torch.nn.Linear(2, 2)
    with caplog.at_level("WARNING"):
        assert _at_precision(model, "int8", "cpu", chosen=False) is model
    assert "cannot quantize" in caplog.text
    with pytest.raises(ConfigError, match="cannot quantize"):
        _at_precision(model, "int8", "cpu", chosen=True)


def test_a_student_that_passed_its_teacher_on_the_same_dev_set_is_told(synth, trained_teacher, tmp_path):
    import shutil

    teacher = tmp_path / "teacher"
    shutil.copytree(trained_teacher, teacher)
    saved = json.loads((teacher / "checkpoint.json").read_text())
    saved["meta"]["metrics"]["dev/wer"] = 40.0
    (teacher / "checkpoint.json").write_text(json.dumps(saved))
    cfg = load_config(None, [], DistillRunConfig, data=distill_cfg(tmp_path, synth, teacher))
    note = pipelines.teacher_passed_note(cfg, 35.0)
    assert note is not None and "35.00" in note and "40.00" in note and "CTC-only student" in note and "signdistill compare" in note
    assert pipelines.teacher_passed_note(cfg, 45.0) is None  # the teacher is still better
    assert pipelines.teacher_passed_note(cfg, 40.0) is not None  # level counts: nothing left to learn from it
    other_dev = tmp_path / "other_dev.jsonl"
    other_dev.write_text((synth / "test.jsonl").read_text())
    cfg_other = load_config(None, [f"data.dev={other_dev}"], DistillRunConfig, data=distill_cfg(tmp_path, synth, teacher))
    assert pipelines.teacher_passed_note(cfg_other, 35.0) is None  # scored on another dev set: not comparable
    del saved["meta"]["metrics"]
    (teacher / "checkpoint.json").write_text(json.dumps(saved))
    assert pipelines.teacher_passed_note(cfg, 35.0) is None  # no record of the teacher's dev WER: nothing said
