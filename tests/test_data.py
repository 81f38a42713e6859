import json
import random

import numpy as np
import pytest

from signdistill.data import BucketBatchSampler, Normalizer, SignDataset, Vocabulary, collate, read_manifest
from signdistill.data.check import check_manifest
from signdistill.data.corpus import read_corpus
from signdistill.data.manifest import manifest_entries
from signdistill.data.synth import generate
from signdistill.errors import DataError


def write(tmp_path, lines, name="m.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def feats(tmp_path, name, arr):
    np.save(tmp_path / name, arr)
    return name


def test_vocabulary_blank_first():
    v = Vocabulary.build([["B", "A"], ["C"]])
    assert v.tokens[:2] == ["<blank>", "<unk>"] and v.blank == 0
    assert v.decode(v.encode(["A", "C"])) == ["A", "C"]
    assert v.encode(["ZZZ"]) == [v.unk]


def test_manifest_roundtrip_and_relative_paths(tmp_path):
    f = feats(tmp_path, "a.npy", np.zeros((5, 3), np.float32))
    m = write(tmp_path, [json.dumps({"id": "a", "features": f, "gloss": "X Y", "signer": "s1"})])
    (u,) = read_manifest(m)
    assert u.features == tmp_path / "a.npy" and u.glosses == ("X", "Y") and u.signer == "s1"


@pytest.mark.parametrize(
    "line,match",
    [
        ("{not json", "line 1 is not valid JSON"),
        ('{"id": "a", "gloss": "X"}', "lacks the field"),
        ('{"id": "a", "features": "a.npy", "gloss": "  "}', "empty 'gloss'"),
        ('["a"]', "not an object"),
        ('{"id": 3, "features": "a.npy", "gloss": "X"}', "must be a string"),
    ],
)
def test_manifest_errors_name_the_line(tmp_path, line, match):
    m = write(tmp_path, [line])
    with pytest.raises(DataError, match=match):
        read_manifest(m)


ENTRIES = [{"id": "a", "features": "a.npy", "gloss": "X"}, {"id": "b", "features": "b.npy", "gloss": "Y"}]


@pytest.mark.parametrize(
    "text,what,fix",
    [
        (json.dumps(ENTRIES, indent=2), "is an array", "jq -c '.[]'"),
        (json.dumps(ENTRIES[0], indent=2), "one JSON document over several lines", "jq -c ."),
        ("\n".join(json.dumps(e, indent=2) for e in ENTRIES), "2 JSON documents over several lines each", "jq -c ."),  # jq without -c
        (json.dumps({"utterances": ENTRIES}, indent=2), "one JSON object over several lines", "jq -c '.utterances[]'"),
    ],
    ids=["array", "object", "jq-without-c", "wrapper"],
)
def test_a_pretty_printed_json_file_is_one_error_not_one_per_line(tmp_path, text, what, fix):
    entries = ENTRIES
    m = tmp_path / "m.jsonl"
    m.write_text(text + "\n")
    found = list(manifest_entries(m, gloss_required=True))
    assert len(found) == 1 and isinstance(found[0][1], str)
    assert what in found[0][1] and fix in found[0][1] and "one JSON object per line" in found[0][1]
    with pytest.raises(DataError, match="not JSON Lines"):
        read_manifest(m)
    # JSON Lines with a bad line keeps its per-line message
    m.write_text(json.dumps(entries[0]) + "\n{broken\n")
    assert [w for w, e in manifest_entries(m, gloss_required=True) if isinstance(e, str)] == [f"{m}, line 2"]
    m.write_text(json.dumps(entries) + "\n")  # an array on one line: the line's message, with the fix
    with pytest.raises(DataError, match="holds a JSON list, not an object .*jq -c"):
        read_manifest(m)


def test_duplicate_ids(tmp_path):
    line = json.dumps({"id": "a", "features": "a.npy", "gloss": "X"})
    with pytest.raises(DataError, match="already appears on line 1"):
        read_manifest(write(tmp_path, [line, line]))


@pytest.mark.parametrize(
    "arr,match",
    [
        (np.zeros((5,), np.float32), "expected a 2-D array"),
        (np.full((5, 3), np.nan, np.float32), "NaN or inf"),
        (np.zeros((5, 4), np.float32), "4 dimensions per frame"),
        (np.zeros((1, 3), np.float32), "CTC needs at least 3 frames"),
    ],
)
def test_bad_feature_files(tmp_path, arr, match):
    feats(tmp_path, "ok.npy", np.zeros((5, 3), np.float32))
    feats(tmp_path, "bad.npy", arr)
    m = write(
        tmp_path,
        [
            json.dumps({"id": "ok", "features": "ok.npy", "gloss": "X"}),
            json.dumps({"id": "bad", "features": "bad.npy", "gloss": "X X"}),
        ],
    )
    with pytest.raises(DataError, match=match):
        SignDataset(read_manifest(m), Vocabulary.build([["X"]]))


def test_missing_and_non_npy_features(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"this is not numpy")
    for f, match in (("nope.npy", "does not exist"), ("junk.npy", "not a readable .npy")):
        m = write(tmp_path, [json.dumps({"id": "a", "features": f, "gloss": "X"})])
        with pytest.raises(DataError, match=match):
            SignDataset(read_manifest(m), Vocabulary.build([["X"]]))


def test_pickled_npy_is_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    m = write(tmp_path, [json.dumps({"id": "a", "features": "obj.npy", "gloss": "X"})])
    with pytest.raises(DataError, match="not a readable"):
        SignDataset(read_manifest(m), Vocabulary.build([["X"]]))


def test_normalizer_matches_numpy():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(3, 2, size=(n, 4)).astype(np.float32) for n in (5, 17, 1)]
    norm = Normalizer.fit(arrays)
    allx = np.concatenate(arrays)
    assert np.allclose(norm.mean, allx.mean(0), atol=1e-5)
    assert np.allclose(norm.std, allx.std(0), atol=1e-5)
    assert Normalizer.from_dict(norm.to_dict()).allclose(norm)


def test_bucket_sampler_covers_everything_and_groups_lengths():
    rng = random.Random(1)
    lengths = [rng.randint(5, 200) for _ in range(300)]
    s = BucketBatchSampler(lengths, 8, seed=3)
    s.set_epoch(1)
    a = s.batches()
    assert sorted(i for b in a for i in b) == list(range(300))
    assert a == s.batches()  # deterministic for (seed, epoch)
    s.set_epoch(2)
    assert a != s.batches()
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in a])
    random_spread = np.mean(
        [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in BucketBatchSampler(lengths, 8, bucket=False).batches()]
    )
    assert spread < random_spread / 3


def test_collate_pads_and_concatenates(synth):
    utts = read_manifest(synth / "dev.jsonl")
    ds = SignDataset(utts, Vocabulary.build(u.glosses for u in utts))
    b = collate([ds[0], ds[1]])
    assert b.features.shape[0] == 2 and b.lengths.tolist() == ds.lengths[:2]
    assert b.targets.numel() == int(b.target_lengths.sum())


def test_synth_is_deterministic_and_signer_split(tmp_path):
    a = generate(tmp_path / "a", seed=5, size="tiny")
    b = generate(tmp_path / "b", seed=5, size="tiny")
    ua, ub = read_manifest(a["train"]), read_manifest(b["train"])
    assert [u.glosses for u in ua] == [u.glosses for u in ub]
    assert np.array_equal(np.load(ua[0].features), np.load(ub[0].features))
    signers = {s: {u.signer for u in read_manifest(p)} for s, p in a.items()}
    assert not (signers["train"] & signers["dev"]) and not (signers["train"] & signers["test"])
    assert np.load(ua[0].features).shape[1] == 36


def test_synth_difficulty_knobs(tmp_path):
    from signdistill.data.synth import SIZES, SynthSize, _lexicon, _vocabulary

    base = dict(train_signers=2, dev_signers=1, test_signers=1, per_signer=30, eval_per_signer=None, free_sentences=1.0)
    m = generate(tmp_path / "x", seed=3, size=SynthSize(**base, extra_glosses=40))
    used = {g for split in m.values() for u in read_manifest(split) for g in u.glosses}
    assert any(g.startswith("G0") for g in used) and used <= set(_vocabulary(40))
    assert len(_vocabulary(40)) == 92 and "G040" in _vocabulary(40) and "G041" not in _vocabulary(40)
    # Families: family_size glosses share one primitive's path and duration (variants differ in one attribute).
    lex = _lexicon(_vocabulary(40), np.random.default_rng(0), family_size=4)
    families = {(p.path, round(p.duration, 9)) for p in lex.values()}
    assert len(families) == 23  # 92 glosses / 4
    # No signer variation: every signer has the same body, tempo and idiosyncrasies.
    from signdistill.data.synth import _signer

    a, b = (_signer(np.random.default_rng(s), ["X"], variation=0.0) for s in (1, 2))
    assert a.scale == b.scale == 1.0 and a.tempo == b.tempo == 1.0 and not a.jitter["X"].any() and not b.offset.any()
    # The field defaults are the earlier default data (`weather`), so its tables stay reproducible.
    assert SIZES["weather"] == SynthSize()
    d = SIZES["default"]
    assert (d.extra_glosses, d.family_size, d.signer_variation, d.free_sentences) == (100, 4, 0.5, 0.9)


def _synth_digest(manifests):
    import hashlib

    h = hashlib.sha256()
    for split in ("train", "dev", "test"):
        for u in read_manifest(manifests[split]):
            h.update(f"{u.id} {u.signer} {' '.join(u.glosses)}".encode())
            h.update(np.round(np.load(u.features), 4).astype(np.float32).tobytes())
    return h.hexdigest()


def test_earlier_sizes_give_the_same_data_as_before_the_knobs(tmp_path):
    """tiny and weather-style data are what they were before the difficulty knobs (digests from b7eae79)."""
    from signdistill.data.synth import SynthSize

    assert (
        _synth_digest(generate(tmp_path / "t", seed=0, size="tiny")) == "f8440e73f8778c1573492c5f5934d5fcb57714a5e41eba7ba1c87fb3392d767a"
    )
    w = SynthSize(train_signers=2, dev_signers=1, test_signers=1, per_signer=6, eval_per_signer=None)
    assert _synth_digest(generate(tmp_path / "w", seed=0, size=w)) == "f0b40b16f1d08c89310a7f193e3dd8cb8fdb089ffbaa5259c34ea813310c446c"


def test_each_knob_reaches_the_data(tmp_path):
    from dataclasses import replace

    from signdistill.data.synth import SynthSize

    base = SynthSize(train_signers=2, dev_signers=1, test_signers=1, per_signer=6, eval_per_signer=None, free_sentences=0.5)
    ref = _synth_digest(generate(tmp_path / "ref", seed=0, size=base))
    for i, change in enumerate([{"extra_glosses": 20}, {"family_size": 4}, {"signer_variation": 0.5}]):
        assert _synth_digest(generate(tmp_path / str(i), seed=0, size=replace(base, **change))) != ref, change


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"family_size": 0}, "family_size must be an integer >= 1"),
        ({"extra_glosses": -1}, "extra_glosses must be an integer from 0 to 999"),
        ({"signer_variation": -0.5}, r"signer_variation must be in \[0, 3\]"),
        ({"free_sentences": 1.5}, r"free_sentences must be in \[0, 1\]"),
        ({"per_signer": 2.5}, "per_signer must be an integer >= 1"),
        ({"extra_glosses": 10, "free_sentences": 0.0}, "occur only in free sentences"),
    ],
)
def test_bad_synth_sizes_are_refused(kw, match):
    from signdistill.data.synth import SynthSize

    with pytest.raises(ValueError, match=match):
        SynthSize(**kw)


def test_default_synth_resolves_one_point(tmp_path):
    """The default data: dev and test have over 4,000 reference glosses each (a WER interval of about +-1), over 100 glosses used."""
    m = generate(tmp_path / "d", seed=0)
    for split in ("dev", "test"):
        utts = read_manifest(m[split])
        assert sum(len(u.glosses) for u in utts) > 4000
        assert len({g for u in utts for g in u.glosses}) > 100  # the weather data has 52


def test_check_manifest_reports_problems(tmp_path, synth):
    assert check_manifest(synth / "train.jsonl").ok
    feats(tmp_path, "a.npy", np.zeros((5, 3), np.float32))
    feats(tmp_path, "n.npy", np.full((5, 3), np.inf, np.float32))
    feats(tmp_path, "d.npy", np.zeros((5, 2), np.float32))
    m = write(
        tmp_path,
        [
            json.dumps({"id": "a", "features": "a.npy", "gloss": "X"}),
            json.dumps({"id": "n", "features": "n.npy", "gloss": "X"}),
            json.dumps({"id": "d", "features": "d.npy", "gloss": "X"}),
            json.dumps({"id": "m", "features": "missing.npy", "gloss": "X"}),
            json.dumps({"id": "s", "features": "a.npy", "gloss": "A A A A"}),
        ],
    )
    r = check_manifest(m)
    text = " ".join(r.problems)
    assert len(r.problems) == 4
    for needle in ("NaN or inf", "2 dimensions", "does not exist", "CTC needs at least 7"):
        assert needle in text


def test_corpus_reader(tmp_path):
    (tmp_path / "f").mkdir()
    np.save(tmp_path / "f" / "u1.npy", np.zeros((4, 2), np.float32))
    ann = tmp_path / "train.corpus.csv"
    ann.write_text(
        "id|folder|signer|annotation\nu1|u1/*.png|Signer01|__ON__ REGEN\nu2|u2/*.png|Signer02|SONNE\nu3|u3|S|\n", encoding="utf-8"
    )
    utts, skipped = read_corpus(ann, tmp_path / "f")
    assert [u.id for u in utts] == ["u1"] and utts[0].signer == "Signer01"
    assert dict(skipped) == {"u2": f"no feature file {tmp_path / 'f' / 'u2.npy'}", "u3": "empty annotation"}
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("id|annotation\nu1|GRÖSSE\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_corpus(bad, tmp_path / "f")
    wrong = tmp_path / "w.csv"
    wrong.write_text("a|b\n1|2\n")
    with pytest.raises(DataError, match="line 1"):
        read_corpus(wrong, tmp_path)


def test_import_phoenix_cli(tmp_path):
    from typer.testing import CliRunner

    from signdistill.cli import app

    ann = tmp_path / "annotations"
    ann.mkdir()
    (tmp_path / "features" / "train").mkdir(parents=True)
    (tmp_path / "features" / "dev").mkdir(parents=True)
    for uid in ("a", "b"):
        np.save(tmp_path / "features" / "train" / f"{uid}.npy", np.zeros((6, 4), np.float32))
    np.save(tmp_path / "features" / "dev" / "c.npy", np.zeros((6, 4), np.float32))
    (ann / "PHOENIX-2014-T.train.corpus.csv").write_text(
        "name|video|start|end|speaker|orth|translation\na|a/1/*.png|-1|-1|Signer01|REGEN NORD|es regnet\n"
        "b|b/1/*.png|-1|-1|Signer02|SONNE|sonne\nz|z/1/*.png|-1|-1|Signer03|WIND|wind\n",
        encoding="utf-8",
    )
    (ann / "PHOENIX-2014-T.dev.corpus.csv").write_text(
        "name|video|start|end|speaker|orth|translation\nc|c|-1|-1|Signer04|WIND|w\n", encoding="utf-8"
    )
    r = CliRunner().invoke(
        app, ["data", "import-phoenix", "--annotations", str(ann), "--features", str(tmp_path / "features"), "--out", str(tmp_path / "m")]
    )
    assert r.exit_code == 0, r.output
    assert [u.id for u in read_manifest(tmp_path / "m" / "train.jsonl")] == ["a", "b"]
    assert [u.signer for u in read_manifest(tmp_path / "m" / "dev.jsonl")] == ["Signer04"]
    report = json.loads((tmp_path / "m" / "skipped.json").read_text())
    assert report["train"]["skipped"][0]["id"] == "z" and "no feature file" in report["train"]["skipped"][0]["reason"]
    r = CliRunner().invoke(
        app, ["data", "import-phoenix", "--annotations", str(ann), "--features", str(tmp_path / "nothing"), "--out", str(tmp_path / "m2")]
    )
    assert r.exit_code == 2 and "does not exist (--features)" in r.output and not (tmp_path / "m2").exists()


def test_augmentation_is_seeded_and_keeps_ctc_length():
    from signdistill.data.augment import Augmentation

    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    aug = Augmentation(speed=(0.8, 1.25), frame_drop=0.2, noise=0.05, seed=3)
    a, b = aug(x, 10, epoch=2, index=7), aug(x, 10, epoch=2, index=7)
    assert np.array_equal(a, b) and a.dtype == np.float32
    assert not np.array_equal(a, aug(x, 10, epoch=3, index=7))
    assert a.shape[0] != 50 or not np.allclose(a, x)
    short = aug(x[:6], 6, epoch=1, index=0)
    assert short.shape[0] >= 6  # never shorter than CTC needs
    assert np.array_equal(Augmentation()(x, 10, 1, 1), x)  # identity by default


def test_augment_config_and_cache_conflict(synth, tmp_path):
    from signdistill.config import DistillRunConfig, load_config
    from signdistill.errors import ConfigError
    from tests.conftest import make_run_config

    data = make_run_config(tmp_path / "r", synth)
    data["data"]["augment"] = {"speed": [0.9, 1.1], "frame_drop": 0.1, "noise": 0.01}
    data["distill"] = {"teachers": [{"checkpoint": "t"}], "teacher_cache": "c", "loss": {"kl": 0.5, "ctc": 0.5}}
    with pytest.raises(ConfigError, match="original frames"):
        load_config(None, [], DistillRunConfig, data=data)
    with pytest.raises(ConfigError, match="speed"):
        load_config(
            None, ["data.augment.speed=[1.2, 0.9]"], DistillRunConfig, data={**data, "distill": {"teachers": [{"checkpoint": "t"}]}}
        )


def test_training_with_augmentation_runs(synth, tmp_path):
    from signdistill import pipelines
    from signdistill.config import load_config
    from tests.conftest import make_run_config

    data = make_run_config(tmp_path / "r", synth, epochs=1)
    data["data"]["augment"] = {"speed": [0.8, 1.2], "frame_drop": 0.1, "noise": 0.02}
    result, _ = pipelines.train(load_config(None, [], data=data))
    assert result.epochs_run == 1


def test_generate_never_writes_over_what_is_not_its_own(tmp_path):
    """The Python API refuses like the CLI: a folder of someone else's files is left as it was."""
    from signdistill.errors import ConfigError

    own = tmp_path / "mine"
    own.mkdir()
    (own / "train.jsonl").write_text("precious\n")
    with pytest.raises(ConfigError, match="not a previous signdistill synthetic dataset"):
        generate(own, size="tiny")
    assert sorted(p.name for p in own.iterdir()) == ["train.jsonl"] and (own / "train.jsonl").read_text() == "precious\n"
    with pytest.raises(DataError, match="seed must be an integer >= 0"):
        generate(tmp_path / "neg", seed=-1, size="tiny")
    assert not (tmp_path / "neg").exists()


def test_generate_replaces_its_dataset_whole_and_keeps_other_files(tmp_path):
    from signdistill.data.synth import kept_files
    from signdistill.errors import ConfigError

    d = tmp_path / "d"
    generate(d, seed=0, size="small")
    (d / "lm.arpa").write_text("built from the data before\n")
    with pytest.raises(ConfigError, match="Pass --overwrite"):
        generate(d, seed=1, size="tiny")
    m = generate(d, seed=1, size="tiny", overwrite=True)
    n = sum(len(read_manifest(m[s])) for s in m)
    assert len(list((d / "features").iterdir())) == n  # no stale features of the larger dataset
    assert kept_files(d) == ["lm.arpa"] and (d / "lm.arpa").read_text() == "built from the data before\n"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary folder left


def test_an_interrupted_generate_leaves_nothing(tmp_path, monkeypatch):
    import signdistill.data.synth as synth

    real = synth._write_dataset

    def interrupted(out, seed, spec, unlabeled=0):
        real(out, seed, spec, unlabeled)
        raise KeyboardInterrupt

    monkeypatch.setattr(synth, "_write_dataset", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "d", size="tiny")
    assert list(tmp_path.iterdir()) == []


def test_a_half_written_dataset_of_an_older_version_is_replaced_with_overwrite(tmp_path):
    """Older versions wrote in place: an interrupted run left features/ and train.jsonl but no test.jsonl."""
    d = tmp_path / "d"
    generate(d, seed=0, size="tiny")
    (d / "test.jsonl").unlink()
    (d / "dev.jsonl").unlink()
    m = generate(d, seed=0, size="tiny", overwrite=True)
    assert all(p.is_file() for p in m.values()) and check_manifest(m["test"]).ok


def test_distinct_variants_removes_the_homonyms():
    import collections

    from signdistill.data.synth import _lexicon, _sign_key, _vocabulary

    def homonyms(distinct):
        lex = _lexicon(_vocabulary(100), np.random.default_rng(7919), 4, distinct)
        return sum(n - 1 for n in collections.Counter(_sign_key(p) for p in lex.values()).values())

    assert homonyms(False) == 14  # the default data's lexicon (docs/data.md)
    assert homonyms(True) == 0


def test_data_synth_stopped_by_sigterm_leaves_nothing(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "signdistill", "data", "synth", "--out", str(tmp_path / "d")], env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.endswith(".synth-tmp") for p in tmp_path.iterdir()):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "stopped by SIGTERM; nothing was written" in err
    assert list(tmp_path.iterdir()) == []


def test_data_synth_negative_seed_is_an_error_not_a_traceback(tmp_path):
    from typer.testing import CliRunner

    from signdistill.cli import app

    res = CliRunner().invoke(app, ["data", "synth", "--size", "tiny", "--seed", "-1", "--out", str(tmp_path / "d")])
    assert res.exit_code == 2 and "seed must be an integer >= 0 (got -1)" in res.output and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_data_synth_under_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DataError, match="afile is a file"):
        generate(tmp_path / "afile" / "sub", size="tiny")
    assert (tmp_path / "afile").read_text() == "x"


def test_the_feature_files_the_docs_name_are_ones_data_synth_writes():
    """Every data/synth/features/*.npy that README, docs or examples tell users to pass exists in the default dataset."""
    import re
    from pathlib import Path

    from signdistill.data.synth import SIZES

    spec = SIZES["default"]
    first = {"train": 1, "dev": spec.train_signers + 1, "test": spec.train_signers + spec.dev_signers + 1}
    last = {"train": spec.train_signers, "dev": spec.train_signers + spec.dev_signers}
    last["test"] = last["dev"] + spec.test_signers
    root = Path(__file__).parents[1]
    files = [root / "README.md", *sorted((root / "docs").glob("*.md")), *sorted((root / "examples").glob("*.py"))]
    named = {(f.name, m) for f in files for m in re.findall(r"data/synth/features/([\w-]+)\.npy", f.read_text(encoding="utf-8"))}
    assert named, "the docs no longer name a feature file: drop this test"
    for where, name in named:
        m = re.fullmatch(r"(train|dev|test)-s(\d{2})-(\d{4})", name)
        assert m, f"{where} names data/synth/features/{name}.npy, which data synth never writes"
        split, signer, k = m[1], int(m[2]), int(m[3])
        count = spec.per_signer if split == "train" or spec.eval_per_signer is None else spec.eval_per_signer
        assert first[split] <= signer <= last[split] and k < count, (
            f"{where}: no {name}.npy in the default data (signers of {split}: s{first[split]:02d}-s{last[split]:02d})"
        )
