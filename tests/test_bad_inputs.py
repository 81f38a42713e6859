"""A catalogue of bad inputs: each ends in one clear message, exit code 2, no traceback,
and nothing that existed is damaged. Plus fuzzing of the manifest, corpus and config readers."""

import importlib.util
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


UNIGRAM_ARPA = "\\data\\\nngram 1=3\n\n\\1-grams:\n-0.5\t<s>\n-0.5\t</s>\n-0.5\tA\n\n\\end\\\n"


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
    # -- issue 12: wrong answers to good or bad input ------------------------------------------
    "--lm is a binary file": lambda r, d, t: (
        ["evaluate", "--checkpoint", t, "--manifest", d / "dev.jsonl", "--lm", _bytes(r, "lm.bin", bytes(range(256)) * 8)],
        "lm.bin is neither an ARPA text file (it is not UTF-8 text) nor a KenLM binary",
    ),
    "--lm is text but not ARPA": lambda r, d, t: (
        ["evaluate", "--checkpoint", t, "--manifest", d / "dev.jsonl", "--lm", _write(r, "words.lm", "hello\nworld\n")],
        "words.lm is not an ARPA language model: line 1 is 'hello', where the \\data\\ header should be",
    ),
    "--lm ARPA header with a bad count line": lambda r, d, t: (
        ["evaluate", "--checkpoint", t, "--manifest", d / "dev.jsonl", "--lm", _write(r, "c.arpa", "# note\n\\data\\\nngram 1=many\n")],
        "c.arpa is not an ARPA language model: line 3 is 'ngram 1=many', not of the form 'ngram N=COUNT'",
    ),
    "tune-decoder with a missing checkpoint": lambda r, d, t: (
        [
            "tune-decoder",
            "--checkpoint",
            r / "nope",
            "--manifest",
            d / "dev.jsonl",
            "--lm",
            _write(r, "u.arpa", UNIGRAM_ARPA),
            "--out",
            r / "d.json",
        ],
        "nope does not exist",
    ),
    "--lm ARPA header without counts": lambda r, d, t: (
        [
            "tune-decoder",
            "--checkpoint",
            t,
            "--manifest",
            d / "dev.jsonl",
            "--lm",
            _write(r, "n.arpa", "\\data\\\n\n\\1-grams:\n"),
            "--out",
            r / "dec.json",
        ],
        "n.arpa is not an ARPA language model: line 3 is '\\1-grams:'; \\data\\ must be followed by 'ngram N=COUNT' lines",
    ),
    "PHOENIX corpus separated by commas": lambda r, d, t: (
        [
            "data",
            "import-phoenix",
            "--annotations",
            _write(r, "train.corpus.csv", "id,folder,signer,annotation\na,a/*.png,S1,REGEN\n"),
            "--features",
            r,
            "--out",
            r / "imported",
        ],
        "is separated by commas, not '|'",
    ),
    "feature path climbing out of the dataset": lambda r, d, t: (
        ["evaluate", "--checkpoint", t, "--manifest", _manifest(r, d, ['{"id": "a", "features": "../../etc/passwd", "gloss": "REGEN"}'])],
        ("m.jsonl, line 1: the feature path '../../etc/passwd' leads outside the manifest's folder", "was not read"),
    ),
    "feature path that hides its climb": lambda r, d, t: (
        ["data", "check", _manifest(r, d, ['{"id": "a", "features": "feats/../../x.npy", "gloss": "REGEN"}'])],
        "leads outside the manifest's folder",
    ),
    "absolute feature path to a file that is not .npy": lambda r, d, t: (
        [
            "evaluate",
            "--checkpoint",
            t,
            "--manifest",
            _manifest(r, d, [json.dumps({"id": "a", "features": str(_write(r, "passwd", "root:x:0:0\n")), "gloss": "REGEN"})]),
        ],
        ("passwd (utterance 'a'", "is not a readable .npy array: it does not start with numpy's .npy header"),
    ),
    "pickled object array as features": lambda r, d, t: (
        [
            "evaluate",
            "--checkpoint",
            t,
            "--manifest",
            _manifest(r, d, [json.dumps({"id": "a", "features": _pickled_npy(r), "gloss": "REGEN"})]),
        ],
        ("obj.npy (utterance 'a'", "is not a readable .npy array: it holds Python objects (pickled data), which signdistill never loads"),
    ),
    "evaluate --device cuda without CUDA": lambda r, d, t: (
        ["evaluate", "--checkpoint", t, "--manifest", d / "dev.jsonl", "--device", _missing_cuda()],
        f"--device is '{_missing_cuda()}'",
    ),
    "evaluate --device that is no device": lambda r, d, t: (
        ["evaluate", "--checkpoint", t, "--manifest", d / "dev.jsonl", "--device", "gpu0"],
        "--device is 'gpu0', which is not a device",
    ),
    "temperature 0, in our words": lambda r, d, t: (
        ["distill", "--config", _write(r, "c.yaml", _distill_cfg(r, d, t, temperature=0))],
        "distill.temperature must be > 0 (got 0)",
    ),
    # -- issue 22: tracebacks that became one clear message ---------------------------------------
    "AdamW beta above 1": lambda r, d, t: (
        ["train-teacher", "--config", _write(r, "c.yaml", _train_cfg(r, d)), "--set", "optim.betas=[1.5, 0.9]"],
        ("optim.betas", "betas must be two numbers in [0, 1)", "[1.5, 0.9]"),
    ),
    "negative AdamW beta": lambda r, d, t: (
        ["train-teacher", "--config", _write(r, "c.yaml", _train_cfg(r, d)), "--set", "optim.betas=[0.9, -0.1]"],
        ("optim.betas", "[0, 1)"),
    ),
    "checkpoint.json model.hidden is a word": lambda r, d, t: (
        [
            "evaluate",
            "--checkpoint",
            _edit_meta(_copy(r, t, "h1"), lambda m: m["model"].update(hidden="big")),
            "--manifest",
            d / "dev.jsonl",
        ],
        ("h1/checkpoint.json", "field 'model.hidden' is 'big'; it must be an integer >= 1", "restore it"),
    ),
    "checkpoint.json model.layers is a string": lambda r, d, t: (
        ["evaluate", "--checkpoint", _edit_meta(_copy(r, t, "l2"), lambda m: m["model"].update(layers="2")), "--manifest", d / "dev.jsonl"],
        "field 'model.layers' is '2'; it must be an integer >= 1",
    ),
    "checkpoint.json model.hidden is 0": lambda r, d, t: (
        ["evaluate", "--checkpoint", _edit_meta(_copy(r, t, "h0"), lambda m: m["model"].update(hidden=0)), "--manifest", d / "dev.jsonl"],
        "field 'model.hidden' is 0",
    ),
    "checkpoint.json normalizer of another width": lambda r, d, t: (
        ["evaluate", "--checkpoint", _edit_meta(_copy(r, t, "nw"), lambda m: m["normalizer"]["std"].pop()), "--manifest", d / "dev.jsonl"],
        "field 'normalizer.std' has",
    ),
    "train.threads 0, in our words": lambda r, d, t: (
        ["train-teacher", "--config", _write(r, "c.yaml", _train_cfg(r, d, **{"train.threads": 0}))],
        "train.threads must be >= 1 (got 0)",
    ),
}


def _bytes(root, name, data):
    p = root / name
    p.write_bytes(data)
    return p


def _pickled_npy(root):
    np.save(root / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    return "obj.npy"


def _missing_cuda():
    import torch

    return "cuda:99" if torch.cuda.is_available() else "cuda"


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
    assert r.output.strip() and not r.output.startswith("\n"), repr(r.output[:80])  # no empty line (a progress bar) before it
    for n in needle if isinstance(needle, tuple) else (needle,):
        assert n in " ".join(r.output.split()), (name, n, r.output)
    assert "pwned" not in r.output
    assert "allow_pickle" not in r.output and "unsafe" not in r.output.lower()  # never suggest unpickling
    assert {p: p.read_bytes() for p in teacher.iterdir()} == before  # nothing existing damaged
    for run in ("run", "drun"):  # a rejected config leaves no run folder (not even an empty one) behind
        assert not (tmp_path / run).exists(), (name, run)


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


# -- issue 12: good input that was read wrongly, and what the user is told ---------------------

BOM = "\ufeff"


@pytest.mark.parametrize("kind", ["manifest", "corpus"])
def test_utf8_byte_order_mark_is_accepted(synth, tmp_path, kind):
    """Editors on Windows start UTF-8 files with a byte-order mark; line 1 must still parse."""
    if kind == "manifest":
        shutil.copytree(synth, tmp_path / "d")
        lines = (synth / "dev.jsonl").read_text(encoding="utf-8")
        p = tmp_path / "d" / "bom.jsonl"
        p.write_text(BOM + lines, encoding="utf-8")
        assert read_manifest(p)[0].id == json.loads(lines.splitlines()[0])["id"]
        r = runner.invoke(app, ["data", "check", str(p)])
        assert r.exit_code == 0, r.output
    else:
        np.save(tmp_path / "a.npy", np.zeros((9, 4), np.float32))
        p = tmp_path / "train.corpus.csv"
        p.write_text(BOM + "id|folder|signer|annotation\na|a/*.png|S1|REGEN SONNE\n", encoding="utf-8")
        utts, skipped = read_corpus(p, tmp_path)
        assert [u.id for u in utts] == ["a"] and utts[0].glosses == ("REGEN", "SONNE") and not skipped


def test_relative_feature_paths_stay_inside_but_absolute_ones_are_allowed(synth, tmp_path):
    from signdistill.data import write_manifest

    data = tmp_path / "d"
    shutil.copytree(synth, data)
    utts = read_manifest(data / "dev.jsonl")
    elsewhere = tmp_path / "manifests" / "dev.jsonl"  # features live beside, not below, this manifest
    elsewhere.parent.mkdir()
    write_manifest(elsewhere, utts)
    assert all(Path(json.loads(x)["features"]).is_absolute() for x in elsewhere.read_text().splitlines())
    assert [u.features for u in read_manifest(elsewhere)] == [u.features for u in utts]
    entry = json.loads((data / "dev.jsonl").read_text().splitlines()[0])
    (tmp_path / "up.jsonl").write_text(json.dumps({**entry, "features": "d/" + entry["features"]}) + "\n")
    assert read_manifest(tmp_path / "up.jsonl")[0].features.is_file()  # inside, in a subfolder: fine
    (data / "sub").mkdir()
    (data / "sub" / "m.jsonl").write_text(json.dumps({**entry, "features": "../" + entry["features"]}) + "\n")
    with pytest.raises(SignDistillError, match=r"m.jsonl, line 1: the feature path '\.\./.*' leads outside"):
        read_manifest(data / "sub" / "m.jsonl")


def test_lm_header_check(tmp_path):
    from signdistill.decoding.lm import build_arpa, check_lm_file

    own = build_arpa([["A", "B"], ["B", "A", "A"]], tmp_path / "own.arpa")
    assert own.read_text().startswith("# signdistill gloss LM") and check_lm_file(own) == "arpa"
    plain = tmp_path / "plain.arpa"
    plain.write_text("\n" + "\n".join(own.read_text().splitlines()[1:]) + "\n")
    assert check_lm_file(plain) == "arpa"
    kenlm_binary = tmp_path / "lm.binary"
    kenlm_binary.write_bytes(b"mmap lm http://kheafield.com/code format version 5\n\0\0\x01\x02" + bytes(range(256)))
    assert check_lm_file(kenlm_binary) == "binary"
    bad = {
        "gz.arpa": (b"\x1f\x8b\x08\x00junk", "is gzip-compressed"),
        "empty.arpa": (b"", "has no \\data\\ header"),
        "comments.arpa": (b"# a\n# b\n", "has no \\data\\ header"),
        "order.arpa": (b"\\data\\\nngram 2=4\n", "line 2 gives the count of 2-grams where 1-grams are due"),
        "zero.arpa": (b"\\data\\\nngram 1=0\n\n\\1-grams:\n", "counts no 1-grams"),
        "cut.arpa": (b"\\data\\\nngram 1=3\n", "ends after its header"),
        "section.arpa": (b"\\data\\\nngram 1=3\n\n\\2-grams:\n", "where the \\1-grams: section should start"),
        "nul.arpa": (b"\\data\\\n\0\0\0\n", "not UTF-8 text"),
    }
    for name, (content, needle) in bad.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(SignDistillError) as exc:
            check_lm_file(tmp_path / name)
        assert needle in str(exc.value) and str(tmp_path / name) in str(exc.value), (name, str(exc.value))


def test_corpus_delimiters(tmp_path):
    for delim, name in ((",", "commas"), (";", "semicolons"), ("\t", "tabs")):
        p = tmp_path / "train.corpus.csv"
        p.write_text(delim.join(["name", "video", "start", "end", "speaker", "orth"]) + "\n", encoding="utf-8")
        with pytest.raises(SignDistillError, match=f"line 1: the header .* is separated by {name}, not '\\|'"):
            read_corpus(p, tmp_path)
    p.write_text("a|b\n")
    with pytest.raises(SignDistillError, match="has none of the columns"):  # a pipe header without an id column: as before
        read_corpus(p, tmp_path)


# Every numeric constraint (ge/gt/le/lt) of every config schema, found by walking the schemas.


def _constrained_fields(schema, prefix=()):
    from types import UnionType
    from typing import Union, get_args, get_origin

    from annotated_types import Ge, Gt, Le, Lt
    from pydantic import BaseModel

    ops = ((Gt, ">", "gt"), (Ge, ">=", "ge"), (Lt, "<", "lt"), (Le, "<=", "le"))
    for name, f in schema.model_fields.items():
        path = (*prefix, name)
        union = get_origin(f.annotation) in (Union, UnionType)
        members = get_args(f.annotation) if union else (f.annotation,)
        metadata = list(f.metadata)
        for m in members:  # Annotated[float, Field(gt=0)] inside a union
            for extra in getattr(m, "__metadata__", ()):
                metadata.extend(getattr(extra, "metadata", ()))
        is_int = int in members or any(get_args(m)[:1] == (int,) for m in members if hasattr(m, "__metadata__"))
        for m in metadata:
            for cls, op, attr in ops:
                if isinstance(m, cls):
                    yield path, op, getattr(m, attr), is_int
        for m in members:
            if get_origin(m) is list and isinstance(get_args(m)[0], type) and issubclass(get_args(m)[0], BaseModel):
                yield from _constrained_fields(get_args(m)[0], (*path, 0))
            elif isinstance(m, type) and issubclass(m, BaseModel):
                yield from _constrained_fields(m, path)


def _bases():
    run = {
        "run_dir": "r",
        "data": {"train": "a", "dev": "b", "augment": {}},
        "model": {"preset": "student"},
        "train": {"epochs": 1},
        "guide": {"checkpoint": "g"},
    }
    distill = {
        **run,
        "distill": {"teachers": [{"checkpoint": "t"}], "loss": {"kl": 0, "ctc": 1}, "temperature": {"kind": "constant", "value": 1.0}},
    }
    compare = {
        "data": {"train": "a", "dev": "b"},
        "teacher": {"checkpoint": "t"},
        "student": {"preset": "student"},
        "epochs": 1,
        "lm": {"path": "lm.arpa"},
    }
    from signdistill.config import CompareConfig

    return {DistillRunConfig: distill, CompareConfig: compare}


def _loc(path):
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


CONSTRAINED = [(schema, *c) for schema in _bases() for c in _constrained_fields(schema)]


def test_every_constraint_is_walked():
    names = {_loc(c[1]) for c in CONSTRAINED}
    for expected in ("distill.temperature", "distill.temperature.value", "distill.teachers[0].weight", "optim.lr", "model.layers"):
        assert expected in names
    for expected in ("bootstrap", "confidence", "lm.beam_width", "teacher.epochs", "student.dropout", "train.early_stopping_patience"):
        assert expected in names
    assert len(CONSTRAINED) >= 40


@pytest.mark.parametrize("schema,path,op,limit,is_int", CONSTRAINED, ids=[f"{c[0].__name__}:{_loc(c[1])}{c[2]}{c[3]}" for c in CONSTRAINED])
def test_constraint_messages_in_our_words(schema, path, op, limit, is_int):
    import copy

    bad = {">": limit, ">=": limit - 1, "<": limit, "<=": limit + 1}[op]
    bad = int(bad) if is_int else float(bad)
    data = copy.deepcopy(_bases()[schema])
    node = data
    for key, nxt in zip(path[:-1], path[1:]):
        if isinstance(key, int):
            node = node[key]
        else:
            default = [{"checkpoint": "t"}] if isinstance(nxt, int) else {}
            if not isinstance(node.get(key), (dict, list)):
                node[key] = default
            node = node[key]
    node[path[-1]] = bad
    with pytest.raises(SignDistillError) as exc:
        load_config(None, [], schema, data=data)
    message = str(exc.value)
    shown = f"{limit:g}" if isinstance(limit, float) else str(limit)
    assert f"{_loc(path)} must be {op} {shown} (got {bad!r})" in message, message
    for internal in ("constrained-", "function-after", "Input should be", "greater_than", "less_than"):
        assert internal not in message, message


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["distill.temperature=warm"], "distill.temperature must be a valid number, or a mapping of ScheduleConfig fields (got 'warm')"),
        (["train.epochs=many"], "train.epochs must be a valid integer (got 'many')"),
        (["train.precision=fp8"], "train.precision must be 'fp32', 'bf16' or 'fp16' (got 'fp8')"),
        (["distill.teachers=[]"], "give distill.teachers (checkpoint folders) or distill.teacher_cache"),
        (["distill.loss.kl=0", "distill.loss.ctc=0"], "distill.loss: all loss weights are zero"),
    ],
)
def test_other_validation_messages_in_our_words(overrides, expected):
    data = _bases()[DistillRunConfig]
    with pytest.raises(SignDistillError) as exc:
        load_config(None, overrides, DistillRunConfig, data=data)
    assert expected in str(exc.value) and "constrained-" not in str(exc.value) and "function-after" not in str(exc.value)


def test_python_api_loads_every_config_the_cli_loads(tmp_path):
    from signdistill.config import CompareConfig

    examples = Path(__file__).resolve().parents[1] / "examples" / "configs"
    for name, schema in (("teacher.yaml", RunConfig), ("distill.yaml", DistillRunConfig), ("compare_small.yaml", CompareConfig)):
        cfg = load_config(examples / name)
        assert type(cfg) is schema, name
    p = _write(tmp_path, "d.yaml", _bases()[DistillRunConfig])
    assert isinstance(load_config(p), DistillRunConfig)
    assert isinstance(load_config(p, ["distill.temperature=3"]), DistillRunConfig)
    with pytest.raises(SignDistillError, match="unknown key 'distill'"):  # an explicit schema is still honoured
        load_config(p, schema=RunConfig)
    r = runner.invoke(app, ["train-teacher", "--config", str(p)])  # train-teacher still wants a RunConfig
    assert r.exit_code == 2 and "unknown key 'distill'" in r.output, r.output


def test_missing_extra_install_line_survives_rich(world, tmp_path, monkeypatch):
    """'pip install signdistill[onnx]' must not lose '[onnx]' to rich markup."""
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    r = runner.invoke(app, ["export", "--checkpoint", str(world[2]), "--out", str(tmp_path / "o"), "--format", "onnx"])
    assert r.exit_code == 2, r.output
    assert "pip install 'signdistill[onnx]'" in r.output, r.output
    r = runner.invoke(app, ["data", "check", str(tmp_path / "[odd] name.jsonl")])  # brackets in a path, too
    assert r.exit_code == 2 and "[odd] name.jsonl" in r.output, r.output


def test_report_says_once_that_plots_need_the_extra(world, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    _, data, teacher = world
    r = runner.invoke(app, ["report", "--run", f"t={teacher}", "--manifest", str(data / "dev.jsonl"), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert r.output.count("pip install 'signdistill[plots]'") == 1, r.output
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["plots"] == []


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if hasattr(cmd, "commands"):  # a group (Typer vendors click, so no isinstance on click.Group)
            yield from _commands(cmd, (*prefix, name))


def test_help_shows_flags_as_flags():
    import typer

    root = typer.main.get_command(app)
    paths = [(), *_commands(root)]
    assert ("lm", "build") in paths and ("evaluate",) in paths
    for path in paths:
        r = runner.invoke(app, [*path, "--help"])
        assert r.exit_code == 0, (path, r.output)
        assert "<bool>" not in r.output, (path, r.output)
    r = runner.invoke(app, ["lm", "build", "--help"])
    assert "--phoenix-cleanup" in r.output and "--overwrite" in r.output and "<path>" in r.output  # values still typed


def test_identical_weights_give_identical_files(world, tmp_path):
    """safetensors keeps metadata in a Rust HashMap (its order changes per save): the bytes must not."""
    import hashlib

    from signdistill import export as export_mod
    from signdistill.training.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(world[2])
    digests = set()
    for i in range(12):
        out = save_checkpoint(tmp_path / f"c{i}", ckpt.model, ckpt.vocab, ckpt.normalizer, config={"a": 1}, meta={"epoch": 1})
        digests.add(hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest())
    assert len(digests) == 1
    exports = {
        hashlib.sha256((export_mod.export(world[2], tmp_path / f"e{i}") / "model.safetensors").read_bytes()).hexdigest() for i in range(6)
    }
    assert len(exports) == 1
    import struct

    raw = (tmp_path / "c0" / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    assert list(header["__metadata__"]) == sorted(header["__metadata__"])
    assert load_checkpoint(tmp_path / "c0").model.state_dict().keys() == ckpt.model.state_dict().keys()


def test_rejected_config_leaves_no_trace_and_harmless_settings_may_change(synth, tmp_path):
    run = tmp_path / "run"
    cfg = make_run_config(run, synth, epochs=1)
    broken = {**cfg, "data": {**cfg["data"], "dev": str(tmp_path / "missing.jsonl")}}
    r = runner.invoke(app, ["train-teacher", "--config", str(_write(tmp_path, "bad.yaml", broken))])
    assert r.exit_code == 2 and "missing.jsonl" in r.output, r.output
    assert not (run / "config.yaml").exists()
    good = _write(tmp_path, "good.yaml", cfg)
    r = runner.invoke(app, ["train-teacher", "--config", str(good)])  # the corrected command just runs
    assert r.exit_code == 0, r.output
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["dev"] == cfg["data"]["dev"]
    before = (run / "best" / "model.safetensors").read_bytes()
    harmless = ["train.threads=1", "train.log_every_steps=3", "train.tensorboard=true", "train.progress=false", "train.device=cpu"]
    r = runner.invoke(app, ["train-teacher", "--config", str(good), *[a for s in harmless for a in ("--set", s)]])
    assert r.exit_code == 0, r.output  # resumes the finished run: nothing to redo
    assert (run / "best" / "model.safetensors").read_bytes() == before
    r = runner.invoke(app, ["train-teacher", "--config", str(good), "--set", "optim.lr=0.01", "--set", "train.threads=2"])
    assert r.exit_code == 2 and "settings that differ: optim.lr)" in " ".join(r.output.split()), r.output
    # A folder that an older version left with only a config.yaml (no run ever started there) is reused.
    stale = tmp_path / "stale"
    stale.mkdir()
    from signdistill.config import dump_config, load_config

    old_dump = dump_config(load_config(None, [], data={**cfg, "run_dir": str(stale), "seed": 7}))  # resolved, no header
    (stale / "config.yaml").write_text(old_dump)
    r = runner.invoke(app, ["train-teacher", "--config", str(good), "--set", f"run_dir={stale}"])
    assert r.exit_code == 0, r.output
    assert yaml.safe_load((stale / "config.yaml").read_text())["seed"] == 0


def test_data_check_lists_every_bad_line(tmp_path):
    """The docs promise every problem: each repeated id and each bad line, not only the first (issue 22)."""
    line = '{{"id": "{}", "features": "x.npy", "gloss": "X"}}'
    m = _manifest(tmp_path, None, [line.format("a"), line.format("a"), "{bad", line.format("b"), line.format("b")])
    r = runner.invoke(app, ["data", "check", str(m), "--json", str(tmp_path / "c.json")])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    text = " ".join(r.output.split())
    assert "line 2: id 'a' already appears on line 1" in text and "line 3 is not valid JSON" in text, r.output
    assert "line 5: id 'b' already appears on line 4" in text and "3 problem(s)" in text, r.output
    assert len(json.loads((tmp_path / "c.json").read_text())["problems"]) == 3


HAS_BEAM = importlib.util.find_spec("pyctcdecode") is not None and importlib.util.find_spec("kenlm") is not None


@pytest.mark.skipif(not HAS_BEAM, reason="needs the lm extra")
def test_tune_decoder_reports_progress(world, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from signdistill import console as console_mod
    from signdistill import pipelines
    from signdistill.decoding.lm import build_arpa

    _, data, teacher = world
    utts = read_manifest(data / "train.jsonl")
    lm = build_arpa([u.glosses for u in utts], tmp_path / "lm.arpa")
    events = []
    res = pipelines.tune_decoder(
        teacher, data / "dev.jsonl", lm, tmp_path / "d.json", alphas=[0, 0.5, 1], betas=[0], beam_width=2,
        on_progress=lambda done, total, best: events.append((done, total, dict(best))),
    )  # fmt: skip
    assert [(d, t) for d, t, _ in events] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert events[0][2] == {} and events[-1][2] == res.best.to_dict()
    assert all(e[2]["wer"] == min(r.wer for r in res.table[: e[0]]) for e in events[1:])
    buf = io.StringIO()
    monkeypatch.setattr(console_mod, "console", Console(file=buf, force_terminal=True, width=200))
    args = ["tune-decoder", "--checkpoint", str(teacher), "--manifest", str(data / "dev.jsonl"), "--lm", str(lm)]
    r = runner.invoke(app, [*args, "--alpha", "0,1", "--beta", "0", "--beam-width", "2", "--out", str(tmp_path / "d2.json")])
    assert r.exit_code == 0, r.output
    assert "2/2" in buf.getvalue() and "best so far: alpha" in buf.getvalue(), buf.getvalue()


def test_logs_stay_out_of_git():
    root = Path(__file__).resolve().parents[1]
    assert "*.log" in (root / ".gitignore").read_text().splitlines()
    assert not (root / "d2.log").exists() or not (root / ".git").exists() or _untracked(root, "d2.log")


def _untracked(root, name):
    import subprocess

    r = subprocess.run(["git", "ls-files", "--error-unmatch", name], cwd=root, capture_output=True)
    return r.returncode != 0


# -- import-teacher: a foreign teacher's folder of posteriors (issue 24) ------------------------------


def _foreign(root, data, *, frames_div=1, classes=None, bad=None):
    """A folder of stride-1 teacher outputs for every training utterance, and its vocabulary file."""
    from signdistill.data import Vocabulary

    utts = read_manifest(data / "train.jsonl")
    tokens = Vocabulary.build(u.glosses for u in utts).tokens
    folder = root / "foreign"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for u in utts:
        t = max(1, np.load(u.features).shape[0] // frames_div)
        np.save(folder / f"{u.id}.npy", rng.normal(size=(t, classes or len(tokens))).astype(np.float32))
    (root / "vocab.txt").write_text("\n".join(tokens) + "\n")
    if bad is not None:
        bad(folder, utts, root)
    return folder, utts


def _first(utts):
    return f"{utts[0].id}.npy"


IMPORT_CASES = {
    "missing files": (lambda f, u, r: [(f / _first(u)).unlink(), (f / f"{u[1].id}.npy").unlink()], {}, "no teacher output for 2 of"),
    "non-finite": (lambda f, u, r: np.save(f / _first(u), np.full(np.load(f / _first(u)).shape, np.inf, np.float32)), {}, "NaN, +inf"),
    "wrong rank": (lambda f, u, r: np.save(f / _first(u), np.zeros((2, 3, 4), np.float32)), {}, "must be (frames, classes)"),
    "a pickle": (lambda f, u, r: (f / _first(u)).write_bytes(pickle.dumps([1, 2])), {}, "cannot be read as a .npy"),
    "stride off": (None, {"frames_div": 4}, "should give"),
    "classes off": (None, {"classes": 7}, "classes; the teacher vocabulary names"),
    "gloss unknown to teacher": (lambda f, u, r: (r / "vocab.txt").write_text("<blank>\n<unk>\nFOO\n"), {}, "lacks"),
    "blank out of range": (None, {}, "is not an index"),
    "declared log-probs": (None, {}, "do not normalize"),
}


@pytest.mark.parametrize("name", list(IMPORT_CASES))
def test_bad_teacher_import(world, name, tmp_path):
    _, data, _ = world
    bad, kw, expected = IMPORT_CASES[name]
    if name == "gloss unknown to teacher":
        kw = {"classes": 3}
    folder, utts = _foreign(tmp_path, data, bad=bad, **kw)
    extra = {"blank out of range": ["--blank", "999"], "declared log-probs": ["--kind", "log-probs"]}.get(name, [])
    args = ["import-teacher", "--import", folder, "--vocab", tmp_path / "vocab.txt", "--manifest", data / "train.jsonl"]
    args += ["--out", tmp_path / "cache", "--blank", "0", *extra]
    if name == "blank out of range":
        args.remove("0")
        args.remove("--blank")
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and expected in " ".join(r.output.split()), r.output
    assert not (tmp_path / "cache").exists()  # every file is checked before --out is made
