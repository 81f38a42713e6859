"""A catalogue of bad inputs: each ends in one clear message, exit code 2, no traceback,
and nothing that existed is damaged. Plus fuzzing of the manifest, corpus and config readers."""

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from signdistill.cli import app
from signdistill.config import DistillRunConfig, RunConfig, load_config
from signdistill.data import read_manifest
from signdistill.data.corpus import read_corpus
from signdistill.errors import SignDistillError
from tests.conftest import make_run_config

runner = CliRunner()


@pytest.fixture(scope="module")
def world(synth, trained_teacher, tmp_path_factory):
    """A copy of the data, a teacher checkpoint, and a sentinel run whose files must survive."""
    root = tmp_path_factory.mktemp("bad")
    data = root / "data"
    shutil.copytree(synth, data)
    teacher = root / "teacher"
    shutil.copytree(trained_teacher, teacher)
    return root, data, teacher


def _train_cfg(root, data, **over):
    cfg = make_run_config(root / "run", data, epochs=1)
    for k, v in over.items():
        node = cfg
        *path, last = k.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = v
    return cfg


def _write(root, name, obj):
    p = root / name
    p.write_text(obj if isinstance(obj, str) else yaml.safe_dump(obj))
    return p


def _manifest(root, data, lines, name="m.jsonl"):
    p = root / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _feat(root, name, arr):
    np.save(root / name, arr)
    return name


def _distill_cfg(root, data, teacher, **distill):
    cfg = make_run_config(root / "drun", data, epochs=1)
    cfg["distill"] = {"teachers": [{"checkpoint": str(teacher)}], **distill}
    return cfg


CASES = {
    "malformed YAML": lambda r, d, t: (["train-teacher", "--config", _write(r, "c.yaml", "run_dir: [oops\n")], "not valid YAML"),
    "unknown key": lambda r, d, t: (
        ["train-teacher", "--config", _write(r, "c.yaml", {**_train_cfg(r, d), "sed": 1})],
        "unknown key 'sed'. Did you mean 'seed'",
    ),
    "misspelled nested key": lambda r, d, t: (
        ["train-teacher", "--config", _write(r, "c.yaml", _train_cfg(r, d)), "--set", "optim.lrr=1"],
        "Did you mean 'optim.lr'",
    ),
    "wrong type": lambda r, d, t: (
        ["train-teacher", "--config", _write(r, "c.yaml", _train_cfg(r, d, **{"train.epochs": "many"}))],
        "train.epochs",
    ),
    "negative learning rate": lambda r, d, t: (
        ["train-teacher", "--config", _write(r, "c.yaml", _train_cfg(r, d, **{"optim.lr": -0.1}))],
        "optim.lr",
    ),
    "config is a list": lambda r, d, t: (["train-teacher", "--config", _write(r, "c.yaml", "- a\n- b\n")], "mapping"),
    "fp16 on CPU": lambda r, d, t: (
        ["train-teacher", "--config", _write(r, "c.yaml", _train_cfg(r, d, **{"train.precision": "fp16", "train.device": "cpu"}))],
        "needs a CUDA device",
    ),
    "temperature <= 0": lambda r, d, t: (["distill", "--config", _write(r, "c.yaml", _distill_cfg(r, d, t, temperature=0))], "temperature"),
    "all loss weights zero": lambda r, d, t: (
        ["distill", "--config", _write(r, "c.yaml", _distill_cfg(r, d, t, loss={"kl": 0, "ctc": 0}))],
        "all loss weights are zero",
    ),
    "layer map past the depth": lambda r, d, t: (
        [
            "distill",
            "--config",
            _write(r, "c.yaml", _distill_cfg(r, d, t, loss={"kl": 0.5, "ctc": 0.5, "feature": 0.1}, feature_layers=[[9, 1]])),
        ],
        "teacher layer 9 does not exist",
    ),
    "missing teacher": lambda r, d, t: (["distill", "--config", _write(r, "c.yaml", _distill_cfg(r, d, r / "nope"))], "does not exist"),
    "missing manifest": lambda r, d, t: (["evaluate", "--checkpoint", t, "--manifest", r / "none.jsonl"], "does not exist"),
    "manifest line not JSON": lambda r, d, t: (
        ["evaluate", "--checkpoint", t, "--manifest", _manifest(r, d, ["{bad"])],
        "line 1 is not valid JSON",
    ),
    "manifest line lacks a field": lambda r, d, t: (
        ["evaluate", "--checkpoint", t, "--manifest", _manifest(r, d, ['{"id": "a", "gloss": "X"}'])],
        "lacks the field",
    ),
    "empty gloss": lambda r, d, t: (
        ["evaluate", "--checkpoint", t, "--manifest", _manifest(r, d, ['{"id": "a", "features": "x.npy", "gloss": ""}'])],
        "empty 'gloss'",
    ),
    "duplicate ids": lambda r, d, t: (
        ["data", "check", _manifest(r, d, ['{"id": "a", "features": "x.npy", "gloss": "X"}'] * 2)],
        "already appears on line 1",
    ),
    "feature file not .npy": lambda r, d, t: (
        (r / "junk.npy").write_bytes(b"junk")
        and ["evaluate", "--checkpoint", t, "--manifest", _manifest(r, d, ['{"id": "a", "features": "junk.npy", "gloss": "REGEN"}'])],
        "not a readable .npy",
    ),
    "NaN features": lambda r, d, t: (
        [
            "evaluate",
            "--checkpoint",
            t,
            "--manifest",
            _manifest(
                r, d, [json.dumps({"id": "a", "features": _feat(r, "n.npy", np.full((9, 36), np.nan, np.float32)), "gloss": "REGEN"})]
            ),
        ],
        "NaN or inf",
    ),
    "inf features": lambda r, d, t: (
        [
            "evaluate",
            "--checkpoint",
            t,
            "--manifest",
            _manifest(
                r, d, [json.dumps({"id": "a", "features": _feat(r, "i.npy", np.full((9, 36), np.inf, np.float32)), "gloss": "REGEN"})]
            ),
        ],
        "NaN or inf",
    ),
    "dimension mismatch": lambda r, d, t: (
        [
            "evaluate",
            "--checkpoint",
            t,
            "--manifest",
            _manifest(r, d, [json.dumps({"id": "a", "features": _feat(r, "d.npy", np.zeros((9, 5), np.float32)), "gloss": "REGEN"})]),
        ],
        "5 dimensions per frame",
    ),
    "utterance too short": lambda r, d, t: (
        [
            "evaluate",
            "--checkpoint",
            t,
            "--manifest",
            _manifest(
                r, d, [json.dumps({"id": "a", "features": _feat(r, "s.npy", np.zeros((2, 36), np.float32)), "gloss": "REGEN REGEN"})]
            ),
        ],
        "CTC needs at least 3",
    ),
    "checkpoint missing files": lambda r, d, t: (["evaluate", "--checkpoint", r, "--manifest", d / "dev.jsonl"], "lacks"),
    "checkpoint of another architecture": lambda r, d, t: (
        ["evaluate", "--checkpoint", _other_arch(r, t), "--manifest", d / "dev.jsonl"],
        "not supported",
    ),
    "truncated safetensors": lambda r, d, t: (
        ["evaluate", "--checkpoint", _truncated(r, t), "--manifest", d / "dev.jsonl"],
        "truncated or corrupt",
    ),
    "pickle planted as weights": lambda r, d, t: (
        ["evaluate", "--checkpoint", _pickled_weights(r, t), "--manifest", d / "dev.jsonl"],
        "truncated or corrupt",
    ),
    "ARPA file that is not one": lambda r, d, t: (
        ["evaluate", "--checkpoint", t, "--manifest", d / "dev.jsonl", "--lm", _write(r, "x.arpa", "not an lm\n")],
        "not an ARPA",
    ),
    "decoder config with an unknown key": lambda r, d, t: (
        ["evaluate", "--checkpoint", t, "--manifest", d / "dev.jsonl", "--decoder-config", _write(r, "dec.json", '{"alpah": 1}')],
        "unknown keys",
    ),
    "non-UTF-8 manifest": lambda r, d, t: (
        (r / "latin.jsonl").write_bytes('{"id": "ä", "features": "x.npy", "gloss": "X"}\n'.encode("latin-1"))
        and ["data", "check", r / "latin.jsonl"],
        "not UTF-8",
    ),
    "teacher with another vocabulary": lambda r, d, t: (
        ["distill", "--config", _write(r, "c.yaml", _distill_cfg(r, d, _other_vocab(r, t)))],
        "different gloss vocabulary",
    ),
    "teacher with another normalizer": lambda r, d, t: (
        ["distill", "--config", _write(r, "c.yaml", _distill_cfg(r, d, _other_norm(r, t)))],
        "normalizes features",
    ),
}


def _copy(r, t, name):
    dst = r / name
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(t, dst)
    return dst


def _edit_meta(path, fn):
    meta = json.loads((path / "checkpoint.json").read_text())
    fn(meta)
    (path / "checkpoint.json").write_text(json.dumps(meta))
    return path


def _other_arch(r, t):
    return _edit_meta(_copy(r, t, "arch"), lambda m: m["model"].update(arch="transformer_ctc"))


def _other_vocab(r, t):
    return _edit_meta(_copy(r, t, "vocab"), lambda m: m.update(vocabulary=m["vocabulary"][:-1] + ["ZZZ"]))


def _other_norm(r, t):
    return _edit_meta(_copy(r, t, "norm"), lambda m: m["normalizer"]["std"].__setitem__(0, 123.0))


def _truncated(r, t):
    p = _copy(r, t, "trunc")
    data = (p / "model.safetensors").read_bytes()
    (p / "model.safetensors").write_bytes(data[: len(data) // 3])
    return p


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def _pickled_weights(r, t):
    p = _copy(r, t, "evil")
    (p / "model.safetensors").write_bytes(pickle.dumps({"x": _Evil()}))
    return p


def test_catalogue_is_large_enough():
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(world, name, tmp_path):
    root, data, teacher = world
    before = {p: p.read_bytes() for p in teacher.iterdir()}
    args, needle = CASES[name](tmp_path, data, teacher)
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 2, (name, r.output)
    assert "Traceback" not in r.output and "error:" in r.output, r.output
    assert needle in " ".join(r.output.split()), (name, r.output)
    assert "pwned" not in r.output
    assert {p: p.read_bytes() for p in teacher.iterdir()} == before  # nothing existing damaged


# -- fuzzing: the readers raise SignDistillError or succeed, never anything else ---------------

TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            TEXT,
            st.dictionaries(st.sampled_from(["id", "features", "gloss", "signer", "x"]), st.one_of(TEXT, st.integers(), st.none())).map(
                json.dumps
            ),
        ),
        max_size=6,
    )
)
def test_fuzz_manifest_reader(tmp_path, lines):
    p = tmp_path / "fuzz.jsonl"
    p.write_text("\n".join(lines), encoding="utf-8")
    try:
        utts = read_manifest(p)
    except SignDistillError:
        return
    assert all(u.glosses and isinstance(u.id, str) for u in utts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(TEXT, max_size=6), st.sampled_from(["id|folder|signer|annotation", "name|video|start|end|speaker|orth|translation", "a|b"]))
def test_fuzz_corpus_reader(tmp_path, lines, header):
    p = tmp_path / "corpus.csv"
    p.write_text("\n".join([header, *[line.replace("\n", " ").replace("\r", " ") for line in lines]]), encoding="utf-8")
    try:
        read_corpus(p, tmp_path)
    except SignDistillError:
        pass


YAMLISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, width=32), TEXT),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(["seed", "run_dir", "data", "model", "train", "optim", "distill", "lr", "epochs", "preset", "x"]),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(YAMLISH, st.sampled_from([RunConfig, DistillRunConfig]))
def test_fuzz_config_loader(data, schema):
    try:
        load_config(None, [], schema, data=data if isinstance(data, dict) else {"x": data})
    except SignDistillError as exc:
        assert str(exc)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(TEXT)
def test_fuzz_config_yaml_text(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text, encoding="utf-8")
    try:
        load_config(p)
    except SignDistillError as exc:
        assert str(p) in str(exc)


def test_catalogue_paths_are_real(world):
    assert Path(world[2], "model.safetensors").exists()
