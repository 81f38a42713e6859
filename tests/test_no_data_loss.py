"""No command deletes or overwrites what it did not write itself (issue 12, data loss).

Every command that writes a file or folder refuses, before touching anything, an output
path that exists and is not its own previous output (exit 2, naming the path and
``--overwrite``), and replaces its own previous output only with ``--overwrite``.
Finished outputs get the umask's mode, not the temporary file's 0600.
"""

import importlib.util
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from signdistill.cli import app
from signdistill.errors import ConfigError
from tests.conftest import make_run_config

runner = CliRunner()
HAS_BEAM = importlib.util.find_spec("pyctcdecode") is not None and importlib.util.find_spec("kenlm") is not None
HAS_ORT = importlib.util.find_spec("onnx") is not None and importlib.util.find_spec("onnxruntime") is not None


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (and ``root`` itself) with its bytes: byte-for-byte comparison."""
    if root.is_file():
        return {".": root.read_bytes()}
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def user_folder(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "notes.txt").write_text("three weeks of annotation work\n")
    (path / "sub" / "data.bin").write_bytes(bytes(range(256)))
    return path


def user_file(path: Path) -> Path:
    path.write_bytes(b"precious user data\x00\xff\n")
    return path


@pytest.fixture(scope="module")
def world(synth, trained_teacher, tmp_path_factory):
    """Inputs for every command that writes an output."""
    from signdistill.decoding.lm import build_arpa

    root = tmp_path_factory.mktemp("no-data-loss")
    lm = build_arpa([["A", "B"], ["B", "A"]], root / "lm.arpa", order=2)
    cfg = make_run_config(root / "student", synth, epochs=1)
    cfg["distill"] = {"teachers": [{"checkpoint": str(trained_teacher)}], "loss": {"kl": 0.5, "ctc": 0.5}, "temperature": 1.0}
    (root / "distill.yaml").write_text(yaml.safe_dump(cfg))
    ann, feats = root / "annotations", root / "features"
    ann.mkdir()
    for split, uid in (("train", "a"), ("dev", "c")):
        (feats / split).mkdir(parents=True)
        np.save(feats / split / f"{uid}.npy", np.zeros((6, 4), np.float32))
        (ann / f"PHOENIX-2014-T.{split}.corpus.csv").write_text(
            f"name|video|start|end|speaker|orth|translation\n{uid}|{uid}|-1|-1|Signer01|REGEN NORD|es regnet\n", encoding="utf-8"
        )
    return {"synth": synth, "teacher": trained_teacher, "lm": lm, "distill": root / "distill.yaml", "ann": ann, "feats": feats}


# command -> (arguments before --out, whether the output is a folder)
COMMANDS = {
    "export": (lambda w: ["export", "--checkpoint", w["teacher"]], True),
    "lm build": (lambda w: ["lm", "build", "--manifest", w["synth"] / "train.jsonl", "--order", "2"], False),
    "tune-decoder": (
        lambda w: (
            ["tune-decoder", "--checkpoint", w["teacher"], "--manifest", w["synth"] / "dev.jsonl", "--lm", w["lm"]]
            + ["--alpha", "0.5", "--beta", "0", "--beam-width", "2"]
        ),
        False,
    ),
    "report": (lambda w: ["report", "--run", f"teacher={w['teacher']}", "--manifest", w["synth"] / "dev.jsonl"], True),
    "cache-teacher": (lambda w: ["cache-teacher", "--config", w["distill"], "--topk", "2"], True),
    "data synth": (lambda w: ["data", "synth", "--size", "tiny", "--seed", "1"], True),
    "data import-phoenix": (lambda w: ["data", "import-phoenix", "--annotations", w["ann"], "--features", w["feats"]], True),
}


def run(world, command, out, *extra):
    args, _ = COMMANDS[command]
    return invoke(*args(world), "--out", out, *extra)


def assert_refused(r, path: Path, *, overwrite: bool) -> None:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output  # one line
    assert str(path) in lines[0] and "--overwrite" in lines[0] and "nothing was changed" in lines[0], r.output
    if overwrite:
        assert "replaces only a previous" in lines[0], r.output
    else:
        assert "Pick another path" in lines[0], r.output


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("kind", ["folder", "file"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_someone_elses_output_is_never_touched(world, command, kind, overwrite, tmp_path):
    out = user_folder(tmp_path / "out") if kind == "folder" else user_file(tmp_path / "out")
    before, siblings = snapshot(out), sorted(p.name for p in tmp_path.iterdir())
    r = run(world, command, out, *(["--overwrite"] if overwrite else []))
    assert_refused(r, out, overwrite=overwrite)
    assert snapshot(out) == before  # byte for byte
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings  # no out.old, no temporary leftovers


@pytest.mark.parametrize("command", list(COMMANDS))
def test_own_output_is_replaced_only_with_overwrite(world, command, tmp_path):
    if command == "tune-decoder" and not HAS_BEAM:
        pytest.skip("needs the lm extra")
    out = tmp_path / "out"
    if COMMANDS[command][1]:
        out.mkdir()  # an empty folder is free to use
    r = run(world, command, out)
    assert r.exit_code == 0, r.output
    before = snapshot(out)
    r = run(world, command, out)
    assert r.exit_code == 2 and "already holds a previous" in r.output and "--overwrite" in r.output and str(out) in r.output, r.output
    assert snapshot(out) == before
    r = run(world, command, out, "--overwrite")
    assert r.exit_code == 0, r.output
    assert not out.with_name("out.old").exists()


def test_export_does_not_replace_a_training_checkpoint(world, tmp_path):
    ckpt = tmp_path / "best"
    shutil.copytree(world["teacher"], ckpt)  # ours, but a checkpoint, not an export
    before = snapshot(ckpt)
    r = invoke("export", "--checkpoint", world["teacher"], "--out", ckpt, "--overwrite")
    assert_refused(r, ckpt, overwrite=True)
    assert snapshot(ckpt) == before


def test_export_leaves_a_foreign_old_sibling_alone(world, tmp_path):
    old = user_folder(tmp_path / "model.old")  # replace_dir_atomic uses <out>.old for its swap
    before = snapshot(old)
    for extra in ([], ["--overwrite"]):
        r = invoke("export", "--checkpoint", world["teacher"], "--out", tmp_path / "model", *extra)
        assert_refused(r, old, overwrite=bool(extra))
    assert snapshot(old) == before and not (tmp_path / "model").exists()


def test_export_can_change_format_of_a_previous_export(world, tmp_path):
    from signdistill.export import load_inference_model

    assert invoke("export", "--checkpoint", world["teacher"], "--out", tmp_path / "m").exit_code == 0
    r = invoke("export", "--checkpoint", world["teacher"], "--out", tmp_path / "m", "--format", "int8", "--overwrite")
    assert r.exit_code == 0, r.output
    assert load_inference_model(tmp_path / "m").kind == "int8"


def test_python_api_refuses_too(world, tmp_path):
    from signdistill.export import export
    from signdistill.io import replace_dir_atomic

    out = user_folder(tmp_path / "out")
    before = snapshot(out)
    with pytest.raises(ConfigError, match="--overwrite"):
        export(world["teacher"], out, overwrite=True)
    assert snapshot(out) == before
    f = user_file(tmp_path / "f")
    with pytest.raises(ConfigError, match="not a folder"):
        replace_dir_atomic(f, lambda tmp: (tmp / "x").write_text("x"))
    assert f.read_bytes() == b"precious user data\x00\xff\n" and not (tmp_path / "f.old").exists()


def test_lm_build_keeps_an_lm_from_another_tool(world, tmp_path):
    other = tmp_path / "big.arpa"  # e.g. from KenLM's lmplz: valid ARPA, but not ours
    other.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\t<s>\n-0.5\tA\n-0.5\t</s>\n\n\\end\\\n")
    before = snapshot(other)
    r = invoke("lm", "build", "--manifest", world["synth"] / "train.jsonl", "--out", other, "--overwrite")
    assert_refused(r, other, overwrite=True)
    assert snapshot(other) == before


def test_reimport_drops_manifests_of_the_previous_import(world, tmp_path):
    out = tmp_path / "m"
    assert invoke("data", "import-phoenix", "--annotations", world["ann"], "--features", world["feats"], "--out", out).exit_code == 0
    assert (out / "dev.jsonl").exists()
    only_train = world["ann"] / "PHOENIX-2014-T.train.corpus.csv"
    r = invoke("data", "import-phoenix", "--annotations", only_train, "--features", world["feats"], "--out", out, "--overwrite")
    assert r.exit_code == 0, r.output
    assert (out / "train.jsonl").exists() and not (out / "dev.jsonl").exists()


@pytest.mark.parametrize("mask", [0o022, 0o027], ids=["umask022", "umask027"])
def test_outputs_get_the_umask_mode(world, tmp_path, mask):
    from signdistill.decoding.lm import build_arpa
    from signdistill.export import export
    from signdistill.io import write_text_atomic

    old = os.umask(mask)
    try:
        folders = [export(world["teacher"], tmp_path / "fp32"), export(world["teacher"], tmp_path / "int8", format="int8")]
        if HAS_ORT:
            folders.append(export(world["teacher"], tmp_path / "onnx", format="onnx"))
        r = invoke("cache-teacher", "--config", world["distill"], "--out", tmp_path / "cache", "--topk", "2")
        assert r.exit_code == 0, r.output
        folders.append(tmp_path / "cache")
        files = [build_arpa([["A", "B"]], tmp_path / "lm.arpa", order=2), tmp_path / "x.json"]
        write_text_atomic(files[-1], "{}\n")
    finally:
        os.umask(old)
    for d in folders:
        assert stat.S_IMODE(d.stat().st_mode) == 0o777 & ~mask, d
        files += [p for p in d.rglob("*") if p.is_file()]
    assert len(files) >= 6
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask, f


def test_lm_signature_is_read_by_every_lm_reader(tmp_path):
    """The signature line that marks our LMs is skipped by our reader and (when installed) by KenLM."""
    from signdistill.decoding.lm import SIGNATURE, build_arpa, is_own_arpa, read_arpa

    lm = build_arpa([["A", "B", "C"], ["B", "C"]], tmp_path / "lm.arpa", order=2)
    assert lm.read_text().splitlines()[0] == SIGNATURE and is_own_arpa(lm)
    assert ("A", "B") in read_arpa(lm)[2]
    if importlib.util.find_spec("kenlm") is not None:
        import kenlm

        assert kenlm.Model(str(lm)).order == 2


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_train_teacher_never_deletes_a_foreign_run_dir(tmp_path, synth, extra):
    import yaml as _yaml
    from typer.testing import CliRunner

    from signdistill.cli import app
    from tests.conftest import make_run_config

    run_dir = tmp_path / "thesis"
    run_dir.mkdir()
    (run_dir / "chapter1.tex").write_text("precious")
    cfg = tmp_path / "t.yaml"
    cfg.write_text(_yaml.safe_dump(make_run_config(run_dir, synth, epochs=1)))
    res = CliRunner().invoke(app, ["train-teacher", "--config", str(cfg), *extra])
    assert res.exit_code == 2, res.output
    assert "not a signdistill run" in " ".join(res.output.split())
    assert [p.name for p in run_dir.iterdir()] == ["chapter1.tex"] and (run_dir / "chapter1.tex").read_text() == "precious"


def test_export_overwrite_keeps_files_the_user_added_to_an_export(world, tmp_path):
    out = tmp_path / "exp"
    assert run(world, "export", out).exit_code == 0
    (out / "README.md").write_text("how to deploy")
    (out / "client").mkdir()
    (out / "client" / "infer.py").write_text("print('hi')")
    before = snapshot(out)
    r = run(world, "export", out, "--overwrite")
    assert r.exit_code == 2 and "README.md" in r.output and "client/infer.py" in r.output, r.output
    assert snapshot(out) == before


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (lambda w, f: ["evaluate", "--checkpoint", w["teacher"], "--manifest", w["synth"] / "dev.jsonl", "--json", f], "--json"),
        (lambda w, f: ["evaluate", "--checkpoint", w["teacher"], "--manifest", w["synth"] / "dev.jsonl", "--stm", f], "--stm"),
        (lambda w, f: ["evaluate", "--checkpoint", w["teacher"], "--manifest", w["synth"] / "dev.jsonl", "--ctm", f], "--ctm"),
        (lambda w, f: ["data", "check", w["synth"] / "dev.jsonl", "--json", f], "--json"),
        (lambda w, f: ["benchmark", "--checkpoint", w["teacher"], "--repeats", "3", "--frames", "20", "--json", f], "--json"),
        (lambda w, f: ["transcribe", "--model", w["teacher"], _a_feature_file(w), "--out", f], "--out"),
        (lambda w, f: ["transcribe", "--model", w["teacher"], _a_feature_file(w), "--format", "jsonl", "--out", f], "--out"),
        (lambda w, f: ["transcribe", "--model", w["teacher"], _a_feature_file(w), "--format", "ctm", "--out", f], "--out"),
    ],
    ids=[
        "evaluate-json",
        "evaluate-stm",
        "evaluate-ctm",
        "data-check-json",
        "benchmark-json",
        "transcribe-text",
        "transcribe-jsonl",
        "transcribe-ctm",
    ],
)
def test_file_options_never_overwrite_silently(world, tmp_path, args, option):
    target = user_file(tmp_path / "mine.txt")
    for extra in ([], ["--overwrite"]):  # --overwrite replaces only the command's own earlier output
        r = invoke(*args(world, target), *extra)
        assert r.exit_code == 2 and option in r.output and "--overwrite" in r.output and "Traceback" not in r.output, r.output
        assert target.read_bytes() == b"precious user data\x00\xff\n"
    target.unlink()
    assert invoke(*args(world, target)).exit_code == 0
    first = target.read_bytes()
    assert invoke(*args(world, target)).exit_code == 2  # its own output: still only with --overwrite
    r = invoke(*args(world, target), "--overwrite")
    assert r.exit_code == 0, r.output
    if option == "--json" and args(world, target)[0] == "evaluate":
        assert json.loads(target.read_text())["manifest"] and target.read_bytes() == first


def _a_feature_file(w) -> Path:
    line = json.loads((w["synth"] / "dev.jsonl").read_text().splitlines()[0])
    return (w["synth"] / line["features"]).resolve()


def test_quickstart_overwrite_keeps_files_added_inside_its_folders(tmp_path):
    from signdistill.pipelines import QUICKSTART_MARKER

    qs = tmp_path / "qs"
    (qs / "data" / "features").mkdir(parents=True)
    (qs / "compare" / "runs" / "mynotes").mkdir(parents=True)
    (qs / QUICKSTART_MARKER).write_text(json.dumps({"size": "small", "seed": 0, "seeds": 1, "recipe": None}))
    (qs / "data" / "train.jsonl").write_text("")
    (qs / "data" / "mine.txt").write_text("mine")
    (qs / "compare" / "runs" / "mynotes" / "n.txt").write_text("notes")
    before = snapshot(qs)
    r = invoke("quickstart", "--out", qs, "--size", "small", "--overwrite")
    assert r.exit_code == 2 and "data/mine.txt" in r.output and "compare/runs/mynotes/n.txt" in r.output, r.output
    assert r.output.lstrip().startswith("error"), r.output  # the refusal is the first line: no plan banner before it
    assert snapshot(qs) == before


# -- issue 22: the run folder, outputs onto inputs, two trainings at once ----------------------


def _train_cfg(tmp_path, synth, run_dir):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(yaml.safe_dump(make_run_config(run_dir, synth, epochs=1)))
    return cfg


@pytest.mark.parametrize("command", ["train-teacher", "distill"])
def test_overwrite_of_a_run_keeps_files_signdistill_did_not_write(world, tmp_path, command):
    run_dir = tmp_path / "run"
    cfg = world["distill"] if command == "distill" else _train_cfg(tmp_path, world["synth"], run_dir)
    assert invoke(command, "--config", cfg, "--set", f"run_dir={run_dir}").exit_code == 0
    (run_dir / "test_scores.json").write_text('{"wer": 12.5}\n')  # evaluate --json run/test_scores.json
    (run_dir / "notes.txt").write_text("lr 0.003 looked best\n")
    before = snapshot(run_dir)
    r = invoke(command, "--config", cfg, "--set", f"run_dir={run_dir}", "--set", "optim.lr=0.002", "--overwrite")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "notes.txt" in r.output and "test_scores.json" in r.output and "nothing was changed" in r.output, r.output
    assert snapshot(run_dir) == before
    for extra in ("test_scores.json", "notes.txt"):  # moved away, --overwrite replaces the run
        (run_dir / extra).unlink()
    r = invoke(command, "--config", cfg, "--set", f"run_dir={run_dir}", "--set", "optim.lr=0.002", "--overwrite")
    assert r.exit_code == 0, r.output
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["optim"]["lr"] == 0.002


def test_every_file_a_run_writes_is_recognised(world):
    from signdistill.io import unexpected_files
    from signdistill.training.run_dir import is_run_file

    run_dir = world["teacher"].parent
    assert unexpected_files(run_dir, is_run_file) == []
    assert is_run_file("best/model.safetensors") and is_run_file("tensorboard/events.out.tfevents.1.host")
    assert not is_run_file("notes.txt") and not is_run_file("best/notes.txt") and not is_run_file("test_scores.json")


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize(
    "args",
    [
        lambda w, m: ["transcribe", m, "--model", w["teacher"], "--out", m],
        lambda w, m: ["evaluate", "--checkpoint", w["teacher"], "--manifest", m, "--json", m],
        lambda w, m: ["data", "check", m, "--json", m],
    ],
    ids=["transcribe", "evaluate", "data-check"],
)
def test_an_output_onto_an_input_is_refused(world, tmp_path, args, overwrite):
    manifest = tmp_path / "in.jsonl"
    shutil.copy(world["synth"] / "dev.jsonl", manifest)
    text = (world["synth"] / "dev.jsonl").read_text()
    manifest.write_text("\n".join(ln.replace('"features": "', f'"features": "{world["synth"]}/') for ln in text.splitlines()) + "\n")
    before = manifest.read_bytes()
    r = invoke(*args(world, manifest), *(["--overwrite"] if overwrite else []))
    assert r.exit_code == 2 and "same file" in r.output and "Traceback" not in r.output, r.output
    assert manifest.read_bytes() == before


def test_evaluate_json_and_ctm_on_one_path_is_refused(world, tmp_path):
    out = tmp_path / "p"
    r = invoke("evaluate", "--checkpoint", world["teacher"], "--manifest", world["synth"] / "dev.jsonl", "--json", out, "--ctm", out)
    assert r.exit_code == 2 and "--json" in r.output and "--ctm" in r.output, r.output
    assert not out.exists()


def test_python_api_refuses_outputs_onto_inputs(world, tmp_path):
    from signdistill import pipelines

    m = tmp_path / "dev.jsonl"
    shutil.copy(world["synth"] / "dev.jsonl", m)
    with pytest.raises(ConfigError, match="same file"):
        pipelines.build_lm(m, m, overwrite=True)
    with pytest.raises(ConfigError, match="same file"):
        pipelines.evaluate(world["teacher"], world["synth"] / "dev.jsonl", stm=tmp_path / "x", ctm=tmp_path / "x")
    with pytest.raises(ConfigError, match="same file"):
        pipelines.report({"t": world["teacher"]}, m, world["teacher"], overwrite=True)
    assert m.read_bytes() == (world["synth"] / "dev.jsonl").read_bytes()


@pytest.mark.skipif(not HAS_BEAM, reason="needs the lm extra")
def test_tune_decoder_json_overwrite_replaces_only_its_own_table(world, tmp_path):
    args = [*COMMANDS["tune-decoder"][0](world), "--out", tmp_path / "dec.json"]
    mine = user_file(tmp_path / "table.json")
    r = invoke(*args, "--json", mine, "--overwrite")
    assert r.exit_code == 2 and "not a previous signdistill tune-decoder table" in r.output, r.output
    assert mine.read_bytes() == b"precious user data\x00\xff\n" and not (tmp_path / "dec.json").exists()
    table = tmp_path / "own.json"
    assert invoke(*args, "--json", table).exit_code == 0
    r = invoke(*args, "--json", table, "--overwrite")
    assert r.exit_code == 0, r.output
    assert json.loads(table.read_text())["table"]


def test_a_second_training_in_a_locked_run_folder_is_refused_until_the_first_dies(world, tmp_path):
    """Two trainings into one run folder: the second is refused while the first holds the folder; a killed
    first one leaves no stale lock (the system drops a dead process's flock), so the run resumes at once."""
    import subprocess
    import sys

    if importlib.util.find_spec("fcntl") is None:
        pytest.skip("no advisory locks on this system")
    run_dir = tmp_path / "run"
    cfg = _train_cfg(tmp_path, world["synth"], run_dir)
    assert invoke("train-teacher", "--config", cfg).exit_code == 0  # a finished training releases its folder
    holder = (
        "import sys, time; from signdistill.training.run_dir import lock_run_dir; lock_run_dir(sys.argv[1]); "
        "print('locked', flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        before = snapshot(run_dir)
        r = invoke("train-teacher", "--config", cfg)
        assert r.exit_code == 2 and "in use" in r.output and str(run_dir) in r.output, r.output
        assert snapshot(run_dir) == before
    finally:
        proc.kill()  # as a crash or SIGKILL would
        proc.wait()
    r = invoke("train-teacher", "--config", cfg)
    assert r.exit_code == 0, r.output  # resumed (nothing left to do), no stale lock
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines if "dev/wer" in x] == [1]  # every epoch once


def test_a_config_error_before_training_leaves_no_run_folder(world, tmp_path):
    run_dir = tmp_path / "new" / "run"
    cfg = make_run_config(run_dir, world["synth"], epochs=1)
    cfg["data"]["dev"] = str(tmp_path / "missing.jsonl")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    r = invoke("train-teacher", "--config", tmp_path / "bad.yaml")
    assert r.exit_code == 2 and "missing.jsonl" in r.output, r.output
    assert not (tmp_path / "new").exists()


def test_import_phoenix_error_leaves_no_output_folder(world, tmp_path):
    ann = tmp_path / "train.corpus.csv"
    ann.write_text("id,folder,signer,annotation\na,a/*.png,S1,REGEN\n")  # commas, not '|'
    r = invoke("data", "import-phoenix", "--annotations", ann, "--features", world["feats"], "--out", tmp_path / "imported")
    assert r.exit_code == 2, r.output
    assert not (tmp_path / "imported").exists()


def test_a_failed_write_outside_training_does_not_speak_of_checkpoints(world, tmp_path, monkeypatch):
    from signdistill import io

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io, "write_json_atomic", full_disk)
    r = invoke("data", "check", world["synth"] / "dev.jsonl", "--json", tmp_path / "c.json")
    assert r.exit_code == 2 and "No space left" in r.output, r.output
    assert "checkpoint" not in r.output and "training resumes" not in r.output, r.output


def test_data_synth_overwrite_keeps_a_users_files_inside_features(tmp_path):
    d = tmp_path / "d"
    assert invoke("data", "synth", "--size", "tiny", "--out", str(d)).exit_code == 0
    (d / "features" / "my-own-recording.npy").write_bytes(b"precious")
    r = invoke("data", "synth", "--size", "tiny", "--out", str(d), "--overwrite")
    assert r.exit_code == 2 and "my-own-recording.npy" in r.output
    assert (d / "features" / "my-own-recording.npy").read_bytes() == b"precious"


@pytest.mark.parametrize("name", ["unlabeled.jsonl", "unlabeled_new.jsonl", "dev.jsonl"])
def test_data_synth_overwrite_keeps_a_users_manifest_of_a_name_it_writes(tmp_path, name):
    d = tmp_path / "d"
    assert invoke("data", "synth", "--size", "tiny", "--out", str(d)).exit_code == 0
    mine = '{"id": "my-take-1", "features": "/elsewhere/take1.npy", "signer": "me"}\n'
    (d / name).write_text(mine)
    before = {p.name: p.read_bytes() for p in d.glob("*.jsonl")}
    r = invoke("data", "synth", "--size", "tiny", "--out", str(d), "--unlabeled", "3", "--overwrite")
    assert r.exit_code == 2 and name in r.output and "did not write" in " ".join(r.output.split()), r.output
    assert {p.name: p.read_bytes() for p in d.glob("*.jsonl")} == before  # nothing changed, the user's file included
    (d / name).unlink()
    r = invoke("data", "synth", "--size", "tiny", "--out", str(d), "--unlabeled", "3", "--overwrite")
    assert r.exit_code == 0, r.output  # its own manifests (and a missing one) are replaced as before
    r = invoke("data", "synth", "--size", "tiny", "--out", str(d), "--overwrite")
    assert r.exit_code == 0 and not (d / "unlabeled.jsonl").exists(), r.output  # its own stale unlabeled manifests go


@pytest.mark.parametrize("command", ["evaluate", "data check"])
def test_an_output_onto_a_feature_file_of_the_manifest_is_refused(world, tmp_path, command):
    data = tmp_path / "data"
    shutil.copytree(world["synth"], data)
    feature = data / json.loads((data / "dev.jsonl").read_text().splitlines()[0])["features"]
    before = feature.read_bytes()
    if command == "evaluate":
        args = ["evaluate", "--checkpoint", str(world["teacher"]), "--manifest", str(data / "dev.jsonl"), "--json", str(feature)]
    else:
        args = ["data", "check", str(data / "dev.jsonl"), "--json", str(feature)]
    r = invoke(*args, "--overwrite")
    assert r.exit_code == 2 and "feature file" in " ".join(r.output.split()), r.output
    assert feature.read_bytes() == before


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
@pytest.mark.parametrize("command", ["train-teacher", "distill"])
def test_a_users_config_yaml_in_the_run_folder_is_never_taken_for_a_run(world, tmp_path, command, extra):
    run_dir = tmp_path / "proj"
    run_dir.mkdir()
    mine = run_dir / "config.yaml"  # the user's own file, even the config this command reads
    cfg = yaml.safe_load(world["distill"].read_text()) if command == "distill" else make_run_config(run_dir, world["synth"], epochs=1)
    cfg["run_dir"] = str(run_dir)
    mine.write_text("# my experiment, hand-written\n" + yaml.safe_dump(cfg, default_flow_style=True))
    before = snapshot(run_dir)
    r = invoke(command, "--config", mine, *extra)
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "config.yaml that signdistill did not write" in " ".join(r.output.split()), r.output
    assert snapshot(run_dir) == before


def test_a_run_resumes_from_its_own_config_and_wherever_its_folder_moved(world, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    assert invoke("train-teacher", "--config", _train_cfg(tmp_path, world["synth"], run_dir)).exit_code == 0
    saved = run_dir / "config.yaml"
    assert saved.read_text().startswith("# signdistill:")  # how signdistill knows the file is its own
    r = invoke("train-teacher", "--config", saved)  # the run's own resolved config, read from inside the run folder
    assert r.exit_code == 0, r.output
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    run_dir.rename(moved)
    monkeypatch.chdir(tmp_path)  # the moved folder, spelled relative: the same run (run_dir never counts as a setting)
    before = (moved / "metrics.jsonl").read_bytes()
    r = invoke("train-teacher", "--config", moved / "config.yaml", "--set", "run_dir=elsewhere/run")
    assert r.exit_code == 0, r.output
    assert (moved / "metrics.jsonl").read_bytes() == before  # finished: nothing trained again


def test_a_config_written_before_the_header_is_still_recognised(tmp_path):
    from signdistill.training.run_dir import _our_config

    old = tmp_path / "config.yaml"
    resolved = {"seed": 0, "run_dir": "r", "data": {"train": "t.jsonl", "eval_batch_size": 32, "bucket": True}}
    old.write_text(yaml.safe_dump({**resolved, "model": {"preset": None, "layers": 1}, "optim": {}, "train": {}}, sort_keys=False))
    assert _our_config(old)
    old.write_text("# mine\n" + old.read_text())
    assert not _our_config(old)
    # hand-written in plain block style (what safe_dump would write too), but without the defaults a dump lists
    old.write_text(yaml.safe_dump({"seed": 0, "run_dir": "r", "data": {"train": "t.jsonl"}, "model": {"layers": 1}}, sort_keys=False))
    assert not _our_config(old)


def test_paths_inside_lists_compare_resolved(tmp_path, monkeypatch):
    from signdistill.training.run_dir import differing_settings

    monkeypatch.chdir(tmp_path)
    rel = {"distill": {"teachers": [{"checkpoint": "runs/t/best", "weight": 1.0}]}}
    absolute = {"distill": {"teachers": [{"checkpoint": str(tmp_path / "runs/t/best"), "weight": 1.0}]}}
    other = {"distill": {"teachers": [{"checkpoint": "runs/u/best", "weight": 1.0}]}}
    assert differing_settings(rel, absolute, resuming=False) == []
    assert differing_settings(rel, other, resuming=False) == ["distill.teachers"]


@pytest.mark.parametrize("features", ["missing", "empty"])
def test_import_phoenix_without_usable_features_writes_nothing(world, tmp_path, features):
    feats = tmp_path / "feats"
    if features == "empty":
        feats.mkdir()
    r = invoke("data", "import-phoenix", "--annotations", world["ann"], "--features", feats, "--out", tmp_path / "ph")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "--features" in r.output and "Nothing was written" in " ".join(r.output.split()), r.output
    assert not (tmp_path / "ph").exists()
    assert (
        invoke("data", "import-phoenix", "--annotations", world["ann"], "--features", world["feats"], "--out", tmp_path / "ph").exit_code
        == 0
    )


def test_evaluate_and_report_write_nothing_when_a_second_model_is_unusable(world, tmp_path):
    ev = [tmp_path / f"ev.{x}" for x in ("json", "ctm", "stm")]
    r = invoke(
        "evaluate", "--checkpoint", world["teacher"], "--manifest", world["synth"] / "dev.jsonl",
        "--json", ev[0], "--ctm", ev[1], "--stm", ev[2], "--teacher", tmp_path / "nosuch",
    )  # fmt: skip
    assert r.exit_code == 2 and "Traceback" not in r.output and "--checkpoint" not in r.output, r.output
    assert not any(p.exists() for p in ev)
    r = invoke(
        "report",
        "--run",
        f"t={world['teacher']}",
        "--run",
        f"s={tmp_path / 'nosuch'}",
        "--manifest",
        world["synth"] / "dev.jsonl",
        "--out",
        tmp_path / "rep",
    )
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert not (tmp_path / "rep").exists()


def test_a_users_two_column_tsv_is_not_taken_for_a_transcript(world, tmp_path):
    tsv = tmp_path / "labels.tsv"
    tsv.write_text("id\tlabel\nutt1\tHELLO WORLD\n")
    before = tsv.read_bytes()
    r = invoke("transcribe", "--model", world["teacher"], _a_feature_file(world), "--out", tsv, "--overwrite")
    assert r.exit_code == 2 and "not a transcript" in " ".join(r.output.split()), r.output
    assert tsv.read_bytes() == before


def test_stm_and_ctm_lines_are_recognised_even_for_odd_references(tmp_path):
    from signdistill.evaluation.sclite import CTM_LINE, STM_LINE, write_ctm, write_stm
    from signdistill.io import own_lines

    write_stm(tmp_path / "a.stm", ["u1", "u2"], [[], ["A", "B"]], ["Signer 01", None])  # empty after cleanup; a spaced signer
    assert own_lines(STM_LINE)(tmp_path / "a.stm")
    assert (tmp_path / "a.stm").read_text().splitlines()[0] == "u1 1 Signer_01 0.000 1.000"
    write_ctm(tmp_path / "a.ctm", ["u1", "u2"], [[], ["A"]])
    assert own_lines(CTM_LINE)(tmp_path / "a.ctm")
