"""Unlabeled recordings (data.unlabeled): synthesis, reading, sampling, pseudo-labels, the weighted CTC term, distill."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from signdistill import pipelines
from signdistill.cli import app
from signdistill.config import DistillRunConfig, load_config
from signdistill.data import Normalizer, SignDataset, Vocabulary, read_manifest
from signdistill.data.dataset import BucketBatchSampler
from signdistill.data.synth import generate
from signdistill.data.unlabeled import read_unlabeled_manifest
from signdistill.errors import ConfigError, DataError
from signdistill.losses import ctc_loss
from signdistill.losses.modules import weighted_ctc_loss
from tests.conftest import make_run_config

runner = CliRunner()


@pytest.fixture(scope="module")
def synth_u(tmp_path_factory) -> Path:
    """The tiny dataset with 20 unlabeled utterances per kind."""
    out = tmp_path_factory.mktemp("synth_u")
    generate(out, seed=0, size="tiny", unlabeled=20)
    return out


@pytest.fixture(scope="module")
def talking_teacher(trained_teacher, tmp_path_factory) -> Path:
    """The tiny teacher with its blank made less likely, so that its greedy transcripts are not empty."""
    import shutil

    from safetensors import safe_open
    from safetensors.torch import load_file

    from signdistill.checkpoint import save_weights

    out = tmp_path_factory.mktemp("talking") / "best"
    shutil.copytree(trained_teacher, out)
    weights = load_file(str(out / "model.safetensors"))
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        meta = f.metadata()
    weights["classifier.bias"][0] -= 20.0
    save_weights(weights, out / "model.safetensors", meta)
    return out


def _cfg(tmp_path: Path, data: Path, teacher: Path, **unlabeled) -> dict:
    c = make_run_config(tmp_path / "student", data, epochs=2)
    c["data"]["unlabeled"] = str(data / "unlabeled_new.jsonl")
    c["distill"] = {"teachers": [{"checkpoint": str(teacher)}], **({"unlabeled": unlabeled} if unlabeled else {})}
    return c


def test_synth_unlabeled_keeps_labelled_splits_and_uses_new_signers(synth, synth_u):
    for split in ("train", "dev", "test"):
        assert (synth / f"{split}.jsonl").read_bytes() == (synth_u / f"{split}.jsonl").read_bytes()
        for u in read_manifest(synth / f"{split}.jsonl"):
            assert np.array_equal(np.load(u.features), np.load(synth_u / "features" / u.features.name))
    labelled = {u.signer for s in ("train", "dev", "test") for u in read_manifest(synth_u / f"{s}.jsonl")}
    train_signers = {u.signer for u in read_manifest(synth_u / "train.jsonl")}
    same = read_unlabeled_manifest(synth_u / "unlabeled.jsonl")
    new = read_unlabeled_manifest(synth_u / "unlabeled_new.jsonl")
    assert len(same) == len(new) == 20
    assert {u.signer for u in same} == train_signers
    assert not {u.signer for u in new} & labelled and len({u.signer for u in new}) == len(train_signers)
    assert all(u.glosses == () for u in new)  # the gloss field is ignored


def test_synth_overwrite_without_unlabeled_removes_stale_manifests(tmp_path):
    generate(tmp_path / "d", size="tiny", unlabeled=3)
    generate(tmp_path / "d", size="tiny", overwrite=True)
    assert not (tmp_path / "d" / "unlabeled.jsonl").exists() and not (tmp_path / "d" / "unlabeled_new.jsonl").exists()


def test_synth_cli_unlabeled_option_and_bad_value(tmp_path):
    r = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "d"), "--size", "tiny", "--unlabeled", "2"])
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "d" / "unlabeled_new.jsonl").read_text().splitlines()) == 2
    r = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "e"), "--size", "tiny", "--unlabeled", "-1"])
    assert r.exit_code == 2 and not (tmp_path / "e").exists()
    (tmp_path / "d" / "lm.arpa").write_text("built from train.jsonl\n")  # adding recordings to the same data: nothing is stale
    r = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "d"), "--size", "tiny", "--unlabeled", "3", "--overwrite"])
    assert r.exit_code == 0 and "byte-identical" in r.output and "stale" not in r.output, r.output
    r = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "d"), "--size", "tiny", "--seed", "5", "--overwrite"])
    assert r.exit_code == 0 and "stale" in r.output, r.output


def test_unlabeled_manifest_without_glosses_and_bad_inputs(tmp_path, synth_u):
    feats = synth_u / "features" / "unlabeled_new-s05-00000.npy"
    good = tmp_path / "u.jsonl"
    good.write_text(json.dumps({"id": "a", "features": str(feats)}) + "\n")
    assert read_unlabeled_manifest(good)[0].glosses == ()
    with pytest.raises(DataError, match="repeats 1 id"):
        read_unlabeled_manifest(good, labelled_ids={"a"})
    with pytest.raises(DataError, match="does not exist"):
        read_unlabeled_manifest(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl, line 1 lacks the field\(s\) \['features'\]"):
        read_unlabeled_manifest(bad)


def test_sampler_draws_the_pool_anew_each_epoch_and_is_unchanged_without_one():
    lengths = [5 + i % 7 for i in range(30)]
    plain = BucketBatchSampler(lengths[:20], 4, seed=3)
    same = BucketBatchSampler(lengths[:20], 4, seed=3, optional_from=None, optional_per_epoch=7)
    assert plain.batches() == same.batches() and len(plain) == len(same) == 5
    s = BucketBatchSampler(lengths, 4, seed=3, optional_from=20, optional_per_epoch=6)
    drawn = []
    for epoch in (0, 1):
        s.set_epoch(epoch)
        flat = sorted(i for b in s.batches() for i in b)
        assert flat[:20] == list(range(20)) and len(flat) == 26 and len(s) == 7
        drawn.append(flat[20:])
        assert s.batches() == s.batches()  # a function of (seed, epoch): resuming replays it
    assert drawn[0] != drawn[1]
    assert BucketBatchSampler(lengths, 4, optional_from=20, optional_per_epoch=99).optional_per_epoch == 10  # capped


def test_weighted_ctc_equals_mean_ctc_at_weight_one_and_ignores_weight_zero():
    torch.manual_seed(0)
    logits = torch.randn(3, 12, 6, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([12, 10, 7])
    targets, tl = torch.tensor([1, 2, 3, 4, 5, 1, 2, 3]), torch.tensor([3, 2, 3])
    ones = weighted_ctc_loss(logits, lengths, targets, tl, torch.ones(3))
    assert ones.item() == pytest.approx(ctc_loss(logits, lengths, targets, tl).item(), rel=1e-6)
    w = torch.tensor([1.0, 0.0, 0.5])
    loss = weighted_ctc_loss(logits, lengths, targets, tl, w)
    per = ctc_loss(logits, lengths, targets, tl, reduction="none") / tl
    assert loss.item() == pytest.approx(((per[0] + 0.5 * per[2]) / 3).item(), rel=1e-9)
    loss.backward()
    assert logits.grad is not None and torch.all(logits.grad[1] == 0) and logits.grad[0].abs().sum() > 0


def test_dataset_keeps_labelled_normalizer_and_marks_unlabeled(synth_u):
    utts = read_manifest(synth_u / "train.jsonl")
    vocab = Vocabulary.build(u.glosses for u in utts)
    ds = SignDataset(utts, vocab, feature_dim=None)
    ds.set_normalizer(Normalizer.fit(ds.raw))
    before = ds.normalizer
    ds.add_unlabeled(read_unlabeled_manifest(synth_u / "unlabeled_new.jsonl"), per_epoch=5)
    assert ds.normalizer is before and len(ds) == len(utts) + 20 and ds.unlabeled_per_epoch == 5
    assert ds.label_weights == [1.0] * len(utts) + [0.0] * 20
    with pytest.raises(ValueError, match="labelled"):
        ds.set_targets(0, [2], 1.0)
    ds.set_targets(len(utts), [2, 3], 0.5)
    from signdistill.data import collate

    b = collate([ds[0], ds[len(utts)], ds[len(utts) + 1]])
    assert b.label_weights.tolist() == [1.0, 0.5, 0.0] and b.target_lengths.tolist()[1:] == [2, 0]


def test_unlabeled_features_of_the_wrong_dimension_name_the_file(tmp_path, synth_u, trained_teacher):
    np.save(tmp_path / "x.npy", np.zeros((40, 7), dtype=np.float32))
    (tmp_path / "u.jsonl").write_text(json.dumps({"id": "x", "features": "x.npy"}) + "\n")
    c = _cfg(tmp_path, synth_u, trained_teacher)
    c["data"]["unlabeled"] = str(tmp_path / "u.jsonl")
    with pytest.raises(DataError, match=r"'x' of .*u.jsonl"):
        pipelines.distill(load_config(None, [], DistillRunConfig, data=c))


def test_pseudo_labels_are_the_teachers_greedy_transcripts_filtered_by_confidence(synth_u, talking_teacher, tmp_path):
    from signdistill.decoding import greedy_decode
    from signdistill.training import load_checkpoint

    teacher = load_checkpoint(talking_teacher).model.eval()
    c = _cfg(tmp_path, synth_u, talking_teacher)
    splits = pipelines.load_splits(load_config(None, [], DistillRunConfig, data=c))
    pipelines.build_distill_objective(load_config(None, [], DistillRunConfig, data=c), splits, torch.device("cpu"))
    n = splits.train.num_labelled
    report = splits.unlabeled_report
    assert report["utterances"] == 20 and 0 < report["mean_confidence"] <= 1
    assert 0 < report["labelled"] <= 20
    for i in (n, n + 7):
        x = splits.train.features(i)[None]
        with torch.no_grad():
            want = greedy_decode(torch.log_softmax(teacher(x, torch.tensor([x.shape[1]])).logits, -1), torch.tensor([x.shape[1]]))[0]
        got = splits.train.targets[i].tolist()
        assert got == (list(want) if splits.train.label_weights[i] > 0 else [])
    # A confidence no transcript reaches keeps none; the utterances stay for the label-free terms.
    strict = _cfg(tmp_path, synth_u, talking_teacher, min_confidence=1.0)
    splits = pipelines.load_splits(load_config(None, [], DistillRunConfig, data=strict))
    pipelines.build_distill_objective(load_config(None, [], DistillRunConfig, data=strict), splits, torch.device("cpu"))
    assert splits.unlabeled_report["labelled"] == 0 and splits.train.label_weights[n:] == [0.0] * 20


def test_distill_with_unlabeled_trains_on_more_batches_and_records_it(synth_u, trained_teacher, tmp_path):
    c = _cfg(tmp_path, synth_u, trained_teacher, ratio=0.5)
    c["data"]["augment"] = {"speed": [0.9, 1.1]}
    result, scores = pipelines.distill(load_config(None, [], DistillRunConfig, data=c))
    meta = json.loads((tmp_path / "student" / "best" / "checkpoint.json").read_text())["meta"]
    assert meta["unlabeled"]["utterances"] == 20 and "test" in scores
    n_labelled = len(read_manifest(synth_u / "train.jsonl"))
    steps_per_epoch = -(-(n_labelled + 12) // 8)  # 24 labelled + 12 unlabeled per epoch, batches of 8
    assert result.history[-1]["step"] == 2 * steps_per_epoch


def test_ratio_zero_is_exactly_the_labelled_only_run(synth_u, trained_teacher, tmp_path):
    weights = []
    for name, unlabeled in (("a", None), ("b", {"ratio": 0})):
        c = make_run_config(tmp_path / name, synth_u, epochs=1)
        c["distill"] = {"teachers": [{"checkpoint": str(trained_teacher)}]}
        if unlabeled is not None:
            c["data"]["unlabeled"] = str(synth_u / "unlabeled_new.jsonl")
            c["distill"]["unlabeled"] = unlabeled
        pipelines.distill(load_config(None, [], DistillRunConfig, data=c))
        weights.append((tmp_path / name / "last" / "model.safetensors").read_bytes())
    assert weights[0] == weights[1]


def test_cache_teacher_covers_unlabeled_and_distill_reads_pseudo_labels_from_it(synth_u, talking_teacher, tmp_path):
    c = _cfg(tmp_path, synth_u, talking_teacher)
    c["distill"]["loss"] = {"kl": 0.5, "ctc": 0.5}
    cfg_file = tmp_path / "d.yaml"
    cfg_file.write_text(yaml.safe_dump(c))
    r = runner.invoke(app, ["cache-teacher", "--config", str(cfg_file), "--out", str(tmp_path / "cache"), "--topk", "4"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "cache" / "index.json").read_text())["utterances"] == 24 + 20
    online = load_config(None, [], DistillRunConfig, data=c)
    cached = load_config(None, [f"distill.teacher_cache={tmp_path / 'cache'}"], DistillRunConfig, data=c)
    targets = []
    for cfg in (online, cached):
        splits = pipelines.load_splits(cfg)
        pipelines.build_distill_objective(cfg, splits, torch.device("cpu"))
        targets.append([t.tolist() for t in splits.train.targets])
    assert targets[0] == targets[1] and sum(map(len, targets[0][24:])) > 0
    result, _ = pipelines.distill(cached)
    assert result.epochs_run == 2


def test_train_teacher_refuses_unlabeled_and_distill_needs_the_manifest(synth_u, trained_teacher, tmp_path):
    c = make_run_config(tmp_path / "t", synth_u)
    c["data"]["unlabeled"] = str(synth_u / "unlabeled.jsonl")
    with pytest.raises(ConfigError, match="data.unlabeled .* used by `signdistill distill`"):
        pipelines.train(load_config(None, [], data=c))
    assert not (tmp_path / "t").exists()
    d = make_run_config(tmp_path / "s", synth_u)
    d["distill"] = {"teachers": [{"checkpoint": str(trained_teacher)}], "unlabeled": {"ratio": 2}}
    with pytest.raises(ConfigError, match="data.unlabeled names no manifest"):
        load_config(None, [], DistillRunConfig, data=d)


def test_compare_gives_the_manifest_to_distilling_runs_only(synth_u, tmp_path):
    from signdistill.config import CompareConfig
    from signdistill.pipelines.compare_plan import plan

    cfg = CompareConfig.model_validate(
        {
            "data": {**make_run_config(tmp_path, synth_u)["data"], "unlabeled": str(synth_u / "unlabeled_new.jsonl")},
            "teacher": {"model": {"layers": 1, "hidden": 8}},
            "student": {"layers": 1, "hidden": 4},
            "recipes": ["ctc", "default", {"name": "labelled-only", "base": "default", "distill": {"unlabeled": {"ratio": 0}}}],
            "seeds": 1,
            "epochs": 1,
        }
    )
    p = plan(cfg, tmp_path / "cmp")
    by_recipe = {j.recipe: j.config for j in p.jobs}
    assert by_recipe["ctc"]["data"].get("unlabeled") is None and p.teacher_job.config["data"].get("unlabeled") is None
    assert by_recipe["default"]["data"]["unlabeled"].endswith("unlabeled_new.jsonl")
    assert by_recipe["default"]["distill"]["unlabeled"]["ratio"] == 1.0
    assert by_recipe["labelled-only"]["distill"]["unlabeled"]["ratio"] == 0


def test_cache_teacher_in_the_library_refuses_a_foreign_folder_and_an_input(synth_u, trained_teacher, tmp_path):
    c = load_config(None, [], DistillRunConfig, data=_cfg(tmp_path, synth_u, trained_teacher))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match="not a previous signdistill teacher cache"):
            pipelines.cache_teacher(c, foreign, topk=2, overwrite=overwrite)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    with pytest.raises(ConfigError, match="data.unlabeled"):
        pipelines.cache_teacher(c, synth_u / "unlabeled_new.jsonl", topk=2, overwrite=True)


@pytest.mark.parametrize("split", ["dev", "test"])
def test_unlabeled_recordings_of_dev_or_test_are_refused(synth_u, trained_teacher, tmp_path, split):
    c = _cfg(tmp_path, synth_u, trained_teacher)
    c["data"]["unlabeled"] = str(synth_u / f"{split}.jsonl")
    with pytest.raises(DataError, match=f"utterance\\(s\\) of data.{split}"):
        pipelines.distill(load_config(None, [], DistillRunConfig, data=c))
    assert not (tmp_path / "student").exists()


def test_a_run_folder_holding_an_input_is_refused_even_with_overwrite(synth_u, trained_teacher, tmp_path):
    import shutil

    teacher = tmp_path / "runs" / "teacher" / "best"
    shutil.copytree(trained_teacher, teacher)
    before = (teacher / "model.safetensors").read_bytes()
    c = _cfg(tmp_path, synth_u, teacher)
    c["run_dir"] = str(tmp_path / "runs" / "teacher")
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match="holds distill.teachers"):
            pipelines.distill(load_config(None, [], DistillRunConfig, data=c), overwrite=overwrite)
    assert (teacher / "model.safetensors").read_bytes() == before


def test_dev_recordings_under_other_ids_are_refused_too(synth_u, trained_teacher, tmp_path):
    lines = [json.loads(x) for x in (synth_u / "dev.jsonl").read_text().splitlines()]
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_text("".join(json.dumps({**x, "id": "x-" + x["id"], "features": str(synth_u / x["features"])}) + "\n" for x in lines))
    c = _cfg(tmp_path, synth_u, trained_teacher)
    c["data"]["unlabeled"] = str(renamed)
    with pytest.raises(DataError, match="utterance\\(s\\) of data.dev"):
        pipelines.distill(load_config(None, [], DistillRunConfig, data=c))
