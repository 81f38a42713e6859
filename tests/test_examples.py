"""Every script under examples/ runs, on tiny data."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
EX = ROOT / "examples"


def run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_plain_pytorch_kd():
    r = run(EX / "plain_pytorch_kd.py", "--steps", "60")
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert "kl" in last and "ctc" in last


def test_train_own_keypoints(tmp_path):
    r = run(EX / "train_own_keypoints.py", "--out", tmp_path, "--epochs", "2")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "best" / "model.safetensors").exists()
    assert "ok" in r.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("pyctcdecode") is None or importlib.util.find_spec("kenlm") is None, reason="needs the lm extra"
)
def test_decode_with_lm(trained_teacher, synth):
    r = run(EX / "decode_with_lm.py", trained_teacher, synth / "train.jsonl", synth / "test.jsonl")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("WER") == 4


def test_foreign_loop_distills_a_stride_4_teacher_in_a_loop_of_its_own():
    source = (EX / "foreign_loop.py").read_text()
    imports = [line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert {m.split(".")[0] for m in imports} <= {"__future__", "argparse", "torch", "signdistill"}
    assert all(m.startswith("signdistill.losses") for m in imports if m.startswith("signdistill"))
    r = run(EX / "foreign_loop.py", "--steps", "300")
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    teacher, student = _rates(last)
    assert teacher < 10 and student < 30, last


def _rates(line: str) -> tuple[float, float]:
    words = line.replace("%", "").split()
    return float(words[words.index("teacher") + 1]), float(words[words.index("student") + 1])
