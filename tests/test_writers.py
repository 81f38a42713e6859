"""Every option of the CLI that writes, in one table: nothing of the user's is ever lost (issue 22).

For each writer: foreign files beside the target and inside it survive byte for byte, with and
without ``--overwrite``; a target that is one of the command's inputs is refused (exit 2), with
and without ``--overwrite``. The CLI's options are enumerated from Typer's command tree, so an
option that writes and is not in :data:`WRITERS` fails :func:`test_every_writing_option_is_in_the_table`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
import yaml
from typer.testing import CliRunner

from signdistill.cli import app
from signdistill.data import read_manifest
from tests.conftest import make_run_config

runner = CliRunner()
Args = Callable[[dict[str, Path], Path], list]


@dataclass(frozen=True)
class Writer:
    """One writing option: its command line (``args(world, target)``) and what its target is."""

    args: Args
    folder: bool  # the target is a folder (else a file)
    inputs: tuple[str, ...]  # keys of the world that are inputs of this command line (each is tried as the target)
    replaces_any_file: bool = False  # --overwrite replaces any file there (a plain --json/--out), not only its own
    runs: bool = True  # cheap enough to run to completion here (compare and quickstart train many models)


def _train(w, t):
    return ["train-teacher", "--config", w["train_cfg"], "--set", f"run_dir={t}"]


def _evaluate(option):
    return lambda w, t: ["evaluate", "--checkpoint", w["teacher"], "--manifest", w["dev"], option, t]


def _tune(option):
    def args(w, t):
        out = ["--out", t] if option == "--out" else ["--out", w["tmp"] / "dec.json", "--json", t]
        return ["tune-decoder", "--checkpoint", w["teacher"], "--manifest", w["dev"], "--lm", w["lm"], "--alpha", "0.5", "--beta", "0"] + [
            "--beam-width",
            "2",
            *out,
        ]

    return args


WRITERS: dict[tuple[str, str], Writer | None] = {
    ("train-teacher", "--config"): Writer(_train, True, ("dev", "data")),  # its run_dir
    ("distill", "--config"): Writer(
        lambda w, t: ["distill", "--config", w["distill_cfg"], "--set", f"run_dir={t}"], True, ("dev", "teacher")
    ),
    ("cache-teacher", "--config"): None,  # read only: cache-teacher writes to --out, never to the config's run_dir
    ("cache-teacher", "--out"): Writer(
        lambda w, t: ["cache-teacher", "--config", w["distill_cfg"], "--topk", "2", "--out", t], True, ("teacher", "data", "distill_cfg")
    ),
    ("evaluate", "--json"): Writer(_evaluate("--json"), False, ("dev", "teacher_weights"), replaces_any_file=True),
    ("evaluate", "--stm"): Writer(_evaluate("--stm"), False, ("dev",), replaces_any_file=True),
    ("evaluate", "--ctm"): Writer(_evaluate("--ctm"), False, ("dev",), replaces_any_file=True),
    ("tune-decoder", "--out"): Writer(_tune("--out"), False, ("dev", "lm")),
    ("tune-decoder", "--json"): Writer(_tune("--json"), False, ("dev", "lm", "dec")),
    ("report", "--out"): Writer(
        lambda w, t: ["report", "--run", f"t={w['teacher']}", "--manifest", w["dev"], "--out", t], True, ("teacher", "dev")
    ),
    ("export", "--out"): Writer(lambda w, t: ["export", "--checkpoint", w["teacher"], "--out", t], True, ("teacher",)),
    ("benchmark", "--json"): Writer(
        lambda w, t: ["benchmark", "--model", w["teacher"], "--repeats", "3", "--frames", "10", "--batch", "2", "--json", t],
        False,
        ("teacher_weights",),
        replaces_any_file=True,
    ),
    ("compare", "--config"): None,  # its `out` is the same folder as --out, tested through --out
    ("compare", "--out"): Writer(
        lambda w, t: ["compare", "--config", w["compare_cfg"], "--out", t], True, ("compare_cfg", "data"), runs=False
    ),
    ("quickstart", "--out"): Writer(lambda w, t: ["quickstart", "--size", "small", "--out", t], True, (), runs=False),
    ("transcribe", "--out"): Writer(
        lambda w, t: ["transcribe", w["dev"], "--model", w["teacher"], "--out", t], False, ("dev", "feature"), replaces_any_file=True
    ),
    ("data synth", "--out"): Writer(lambda w, t: ["data", "synth", "--size", "tiny", "--out", t], True, ()),
    ("data check", "--json"): Writer(lambda w, t: ["data", "check", w["dev"], "--json", t], False, ("dev",), replaces_any_file=True),
    ("data import-phoenix", "--out"): Writer(
        lambda w, t: ["data", "import-phoenix", "--annotations", w["ann"], "--features", w["feats"], "--out", t], True, ("ann", "feats")
    ),
    ("import-teacher", "--import"): None,  # read only: the folder of teacher outputs
    ("import-teacher", "--out"): Writer(
        lambda w, t: (
            ["import-teacher", "--import", w["tout"], "--vocab", w["tvocab"], "--blank", "0"]
            + ["--manifest", w["train_manifest"], "--out", t]
        ),
        True,
        ("tout", "tvocab", "train_manifest"),
    ),
    ("lm build", "--out"): Writer(lambda w, t: ["lm", "build", "--manifest", w["dev"], "--order", "2", "--out", t], False, ("dev",)),
}

# An option writes when its name says so, or when it is a command's --config (a run config names a run_dir).
WRITING = re.compile(r"--config|--(.+-)?(out|output|json|stm|ctm|report|cache|export|save|write|dir|folder)(-.+)?")


def cli_options() -> list[tuple[str, str]]:
    """Every (command, option) of the CLI, walked from Typer's click command tree."""
    found: list[tuple[str, str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():  # a group (Typer vendors its own click)
            walk(sub, [*path, name])
        for param in cmd.params:
            for opt in param.opts:
                if opt.startswith("--"):
                    found.append((" ".join(path), opt))

    walk(typer.main.get_command(app), [])
    return found


def test_every_writing_option_is_in_the_table():
    options = cli_options()
    assert ("evaluate", "--json") in options and ("data synth", "--out") in options  # the walk reaches nested commands
    writing = {o for o in options if WRITING.fullmatch(o[1])}
    missing = sorted(writing - set(WRITERS))
    assert not missing, f"options that write but are not in tests/test_writers.py WRITERS: {missing}"
    assert not set(WRITERS) - set(options), "WRITERS names options the CLI no longer has"


# -- the world ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(synth, trained_teacher, tmp_path_factory):
    from signdistill.decoding.lm import build_arpa

    root = tmp_path_factory.mktemp("writers")
    lm = build_arpa([["A", "B"], ["B", "A"]], root / "lm.arpa", order=2)
    return {"synth": synth, "teacher": trained_teacher, "lm": lm}


@pytest.fixture
def world(shared, tmp_path) -> dict[str, Path]:
    """Fresh copies of every input (a refused command must leave them as they were; a failing test may not)."""
    w = {"tmp": tmp_path, "data": tmp_path / "data", "teacher": tmp_path / "teacher", "lm": tmp_path / "lm.arpa"}
    shutil.copytree(shared["synth"], w["data"])
    shutil.copytree(shared["teacher"], w["teacher"])
    shutil.copy(shared["lm"], w["lm"])
    w["dev"] = w["data"] / "dev.jsonl"
    w["feature"] = next(u.features for u in read_manifest(w["dev"]))
    w["teacher_weights"] = w["teacher"] / "model.safetensors"
    w["dec"] = tmp_path / "dec.json"
    cfg = make_run_config(tmp_path / "unused-run", w["data"], epochs=1)
    w["train_cfg"] = _yaml(tmp_path / "train.yaml", cfg)
    w["distill_cfg"] = _yaml(tmp_path / "distill.yaml", {**cfg, "distill": {"teachers": [{"checkpoint": str(w["teacher"])}]}})
    compare = {"out": str(tmp_path / "unused-compare"), "data": cfg["data"], "teacher": {"checkpoint": str(w["teacher"])}}
    compare |= {"student": {"layers": 1, "hidden": 8, "input_proj": 8}, "recipes": ["ctc"], "seeds": 1, "epochs": 1}
    w["compare_cfg"] = _yaml(tmp_path / "compare.yaml", compare)
    w["train_manifest"], w["tout"], w["tvocab"] = w["data"] / "train.jsonl", tmp_path / "tout", tmp_path / "tvocab.txt"
    w["tout"].mkdir()
    utts = read_manifest(w["train_manifest"])
    tokens = ["<blank>", "<unk>", *sorted({g for u in utts for g in u.glosses})]
    for u in utts:
        np.save(w["tout"] / f"{u.id}.npy", np.zeros((np.load(u.features).shape[0], len(tokens)), np.float32))
    w["tvocab"].write_text("\n".join(tokens) + "\n")
    w["ann"], w["feats"] = tmp_path / "annotations", tmp_path / "features"
    (w["feats"] / "train").mkdir(parents=True)
    w["ann"].mkdir()
    np.save(w["feats"] / "train" / "a.npy", np.zeros((6, 4), np.float32))
    header = "name|video|start|end|speaker|orth|translation\n"
    (w["ann"] / "PHOENIX-2014-T.train.corpus.csv").write_text(header + "a|a|-1|-1|Signer01|REGEN NORD|es regnet\n", encoding="utf-8")
    return w


def _yaml(path: Path, obj: dict) -> Path:
    path.write_text(yaml.safe_dump(obj))
    return path


def hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (or of ``root``), by relative path."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)) if p != root else ".": hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def foreign(area: Path) -> Path:
    """A folder of someone else's files: the target goes beside them."""
    (area / "sub").mkdir(parents=True)
    (area / "notes.txt").write_text("three weeks of annotation work\n")
    (area / "sub" / "data.bin").write_bytes(bytes(range(256)))
    return area


def invoke(writer: Writer, world: dict[str, Path], target: Path, *extra: str):
    return runner.invoke(app, [str(a) for a in [*writer.args(world, target), *extra]])


def overwrite_flag(entry: tuple[str, str], overwrite: bool) -> list[str]:
    """``["--overwrite"]`` when asked for; a command without the flag (compare) is tested plain only."""
    if not overwrite:
        return []
    if (entry[0], "--overwrite") not in cli_options():
        pytest.skip(f"{entry[0]} has no --overwrite")
    return ["--overwrite"]


def refused(r) -> bool:
    return r.exit_code == 2 and "Traceback" not in r.output and "error:" in r.output


ENTRIES = [k for k, v in WRITERS.items() if v is not None]
IDS = [" ".join(k) for k in ENTRIES]


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_foreign_target_is_never_replaced(world, entry, overwrite):
    """The target itself is someone else's (a folder of files, or a file): refused, byte for byte unchanged."""
    writer = WRITERS[entry]
    assert writer is not None
    area = foreign(world["tmp"] / "area")
    target = area / "target"
    if writer.folder:
        foreign(target)
    else:
        target.write_bytes(b"precious user data\x00\xff\n")
    before = hashes(area)
    r = invoke(writer, world, target, *overwrite_flag(entry, overwrite))
    if overwrite and writer.replaces_any_file:  # asked for in so many words; only the target may change
        assert r.exit_code in (0, 2), r.output
        before.pop("target")
        assert {k: v for k, v in hashes(area).items() if k != "target"} == before
        return
    assert refused(r), r.output
    assert hashes(area) == before


@pytest.mark.parametrize("entry", [e for e in ENTRIES if WRITERS[e].runs], ids=[i for e, i in zip(ENTRIES, IDS) if WRITERS[e].runs])
def test_writing_beside_and_inside_keeps_foreign_files(world, entry):
    """A fresh target beside foreign files: written, neighbours unchanged. A file added inside an own
    folder output: rewriting it with --overwrite keeps that file (or refuses)."""
    writer = WRITERS[entry]
    assert writer is not None
    area = foreign(world["tmp"] / "area")
    target = area / "target"
    before = hashes(area)
    r = invoke(writer, world, target)
    assert r.exit_code == 0, r.output
    assert target.exists()
    assert {k: v for k, v in hashes(area).items() if not k.startswith("target")} == before
    if not writer.folder:
        return
    (target / "mine.txt").write_text("added by the user")
    (target / "mine").mkdir(exist_ok=True)
    (target / "mine" / "x.bin").write_bytes(b"\x00\x01")
    kept = {k: v for k, v in hashes(area).items() if k.startswith("target/mine")}
    r = invoke(writer, world, target, *overwrite_flag(entry, True))
    assert r.exit_code in (0, 2) and "Traceback" not in r.output, r.output
    assert {k: v for k, v in hashes(area).items() if k.startswith("target/mine")} == kept
    if r.exit_code == 2:
        assert "mine.txt" in r.output, r.output  # a refusal names what it would have deleted


CASES = [(e, key) for e in ENTRIES for key in WRITERS[e].inputs]


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize(("entry", "key"), CASES, ids=[f"{' '.join(e)} = {k}" for e, k in CASES])
def test_target_that_is_an_input_is_refused(world, entry, key, overwrite):
    writer = WRITERS[entry]
    assert writer is not None
    target = world[key]
    before = {k: hashes(v) for k, v in world.items() if k != "tmp" and os.path.exists(v)}
    r = invoke(writer, world, target, *overwrite_flag(entry, overwrite))
    assert refused(r), r.output
    assert {k: hashes(v) for k, v in world.items() if k != "tmp" and os.path.exists(v)} == before


def test_input_through_a_link_is_refused(world):
    """The same file under another name (a symbolic link, a hard link) is still the input."""
    for i, make in enumerate((os.symlink, os.link)):
        alias = world["tmp"] / f"alias{i}.jsonl"
        make(world["dev"], alias)
        before = hashes(world["dev"])
        r = invoke(WRITERS[("transcribe", "--out")], world, alias, "--overwrite")
        assert refused(r) and "same file" in r.output, r.output
        assert hashes(world["dev"]) == before


def test_two_outputs_on_one_path_are_refused(world):
    out = world["tmp"] / "both.txt"
    args = ["evaluate", "--checkpoint", world["teacher"], "--manifest", world["dev"], "--json", out, "--ctm", out]
    r = runner.invoke(app, [str(a) for a in args])
    assert refused(r) and "--json" in r.output and "--ctm" in r.output, r.output
    assert not out.exists()
