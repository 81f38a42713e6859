"""Teachers from other code bases: `import-teacher` turns a folder of posteriors (any frame rate) into a cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from signdistill import pipelines
from signdistill.cli import app
from signdistill.config import DistillRunConfig, load_config
from signdistill.data import SignDataset, read_manifest
from signdistill.training import load_checkpoint
from tests.conftest import make_run_config

runner = CliRunner()


def export_outputs(ckpt_dir: Path, manifest: Path, out: Path, *, order: list[int] | None = None, extra: int = 0) -> Path:
    """Write a checkpoint's log-probs per training utterance as plain <id>.npy arrays, as another code base would.

    ``order``: the teacher's class order (a permutation of the checkpoint's); ``extra``: classes only the teacher knows.
    """
    ckpt = load_checkpoint(ckpt_dir)
    model = ckpt.model.eval()
    data = SignDataset(read_manifest(manifest), ckpt.vocab, ckpt.normalizer)
    out.mkdir(parents=True)
    tokens = list(ckpt.vocab.tokens)
    order = order or list(range(len(tokens)))
    with torch.no_grad():
        for i, u in enumerate(data.utterances):
            x = data.features(i)[None]
            o = model(x, torch.tensor([x.shape[1]]))
            lp = torch.log_softmax(o.logits[0, : int(o.lengths[0])], -1)[:, order]
            if extra:
                lp = torch.cat([lp, torch.full((lp.shape[0], extra), -30.0)], -1)
            np.save(out / f"{u.id}.npy", lp.numpy())
    names = [tokens[j] for j in order] + [f"TEACHER_ONLY_{k}" for k in range(extra)]
    (out / "vocab.txt").write_text("\n".join(names) + "\n")
    return out


def test_imported_outputs_give_the_same_loss_as_the_online_teacher(synth, trained_teacher, tmp_path):
    folder = export_outputs(trained_teacher, synth / "train.jsonl", tmp_path / "foreign")
    r = runner.invoke(
        app,
        ["import-teacher", "--import", str(folder), "--vocab", str(folder / "vocab.txt"), "--blank", "0"]
        + ["--manifest", str(synth / "train.jsonl"), "--out", str(tmp_path / "cache"), "--topk", "4"],
    )
    assert r.exit_code == 0, r.output
    assert "log-probs, stride 1" in r.output
    data = make_run_config(tmp_path / "student", synth, epochs=1)
    data["distill"] = {"teachers": [{"checkpoint": str(trained_teacher)}], "loss": {"kl": 0.5, "ctc": 0.5}, "topk": 4}
    online = load_config(None, [], DistillRunConfig, data=data)
    imported = load_config(None, [f"distill.teacher_cache={tmp_path / 'cache'}"], DistillRunConfig, data=data)
    splits = pipelines.load_splits(online)
    from signdistill.data import collate

    batch = collate([splits.train[i] for i in range(6)])
    student = load_checkpoint(trained_teacher).model.eval()
    kl = []
    for cfg in (online, imported):
        obj = pipelines.build_distill_objective(cfg, splits, torch.device("cpu"))
        obj.on_epoch_start(1)
        kl.append(obj(student, batch).parts["kl"])
    assert kl[0] == pytest.approx(kl[1], rel=2e-3)  # fp16 rounding of the cache aside


def test_a_stride_4_teacher_with_its_own_class_order_distills_into_a_stride_1_student(synth, tmp_path):
    t = make_run_config(tmp_path / "teacher", synth, epochs=2, layers=1, hidden=16)
    t["model"]["temporal_stride"] = 4
    pipelines.train(load_config(None, [], data=t))
    n = len(load_checkpoint(tmp_path / "teacher" / "best").vocab)
    order = [n - 1, *range(1, n - 1), 0]  # blank last, the last gloss first
    folder = export_outputs(tmp_path / "teacher" / "best", synth / "train.jsonl", tmp_path / "foreign", order=order, extra=2)
    first = read_manifest(synth / "train.jsonl")[0]
    assert np.load(folder / f"{first.id}.npy").shape[0] == -(-np.load(first.features).shape[0] // 4)
    r = runner.invoke(
        app,
        ["import-teacher", "--import", str(folder), "--vocab", str(folder / "vocab.txt"), "--blank", str(n - 1), "--stride", "4"]
        + ["--manifest", str(synth / "train.jsonl"), "--out", str(tmp_path / "cache")],
    )
    assert r.exit_code == 0, r.output
    assert "2 teacher-only class(es) merged into <unk>" in r.output
    info = json.loads((tmp_path / "cache" / "index.json").read_text())
    assert info["teacher_import"]["stride"] == 4 and info["merged_glosses"] == ["TEACHER_ONLY_0", "TEACHER_ONLY_1"]
    s = make_run_config(tmp_path / "student", synth, epochs=1)
    s["distill"] = {"teachers": [{"checkpoint": str(tmp_path / "teacher" / "best")}], "loss": {"kl": 0.5, "ctc": 0.5}}
    s["distill"]["teacher_cache"] = str(tmp_path / "cache")
    result, scores = pipelines.distill(load_config(None, [], DistillRunConfig, data=s))
    assert result.epochs_run == 1 and "test" in scores
    # The cached top-1 class of an input frame is the teacher's argmax over the teacher frame it lies in.
    from signdistill.training.distill import TeacherCache

    cache = TeacherCache(tmp_path / "cache")
    lp = torch.from_numpy(np.load(folder / f"{first.id}.npy"))
    names = (folder / "vocab.txt").read_text().split()
    vocab = load_checkpoint(tmp_path / "teacher" / "best").vocab
    for frame in (0, 5, 13):
        teacher_top = names[int(lp[frame // 4].argmax())]
        assert vocab.tokens[int(cache.indices[first.id][frame, 0])] == teacher_top


def test_an_imported_teacher_covers_unlabeled_recordings_and_labels_them(trained_teacher, tmp_path):
    from signdistill.data.synth import generate

    data = tmp_path / "data"
    generate(data, size="tiny", unlabeled=6)
    folder = export_outputs(trained_teacher, data / "train.jsonl", tmp_path / "foreign")
    more = export_outputs(trained_teacher, data / "unlabeled_new.jsonl", tmp_path / "more")
    for f in more.glob("*.npy"):
        f.rename(folder / f.name)
    args = ["import-teacher", "--import", str(folder), "--vocab", str(folder / "vocab.txt"), "--blank", "0"]
    args += ["--manifest", str(data / "train.jsonl"), "--out", str(tmp_path / "cache")]
    r = runner.invoke(app, [*args, "--unlabeled", str(data / "unlabeled_new.jsonl")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "cache" / "index.json").read_text())["utterances"] == 24 + 6
    s = make_run_config(tmp_path / "student", data, epochs=1)
    s["data"]["unlabeled"] = str(data / "unlabeled_new.jsonl")
    s["distill"] = {"teacher_cache": str(tmp_path / "cache"), "loss": {"ctc": 0.5, "factorized": 0.5}}
    result, _ = pipelines.distill(load_config(None, [], DistillRunConfig, data=s))
    meta = json.loads((tmp_path / "student" / "best" / "checkpoint.json").read_text())["meta"]
    assert result.epochs_run == 1 and meta["unlabeled"]["utterances"] == 6
    # Without --unlabeled the cache lacks them, and distill says how to make one that has them.
    r = runner.invoke(app, [*args[:-1], str(tmp_path / "cache2")])
    assert r.exit_code == 0, r.output
    s["distill"]["teacher_cache"] = str(tmp_path / "cache2")
    s["run_dir"] = str(tmp_path / "student2")
    from signdistill.errors import DataError

    with pytest.raises(DataError, match="import-teacher --manifest TRAIN --unlabeled"):
        pipelines.distill(load_config(None, [], DistillRunConfig, data=s))
