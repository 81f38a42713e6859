"""The inference corridor: padding, batching and running any model format (signdistill.runner, .formats)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from signdistill.data.dataset import BucketBatchSampler
from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary
from signdistill.runner import Model, batch_plan, pad_batch, run_all, run_batches


def _model(calls: list[tuple[int, int]]) -> Model:
    """A fake model whose log-probs at frame t are its feature row (V = D), recording each batch's shape."""

    def run(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        calls.append((x.shape[0], x.shape[1]))
        return x * 1.0

    return Model("fp32", Path("."), Vocabulary.build([["A"]]), Normalizer(np.zeros(3), np.ones(3)), {}, run)


def test_pad_batch_zero_pads_to_the_longest():
    x, n = pad_batch([np.ones((2, 3)), 2 * np.ones((4, 3), np.float64)])
    assert x.dtype == np.float32 and n.dtype == np.int64 and n.tolist() == [2, 4]
    assert x.shape == (2, 4, 3) and x[0, 2:].sum() == 0 and (x[1] == 2).all()
    with pytest.raises(ValueError):
        pad_batch([])


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7])
def test_batch_plan_by_length_is_the_evaluation_sampler(batch_size):
    lengths = [5, 3, 9, 3, 1, 7, 5]
    assert batch_plan(lengths, batch_size, by_length=True) == list(BucketBatchSampler(lengths, batch_size, shuffle=False))
    assert [i for b in batch_plan(lengths, batch_size) for i in b] == list(range(len(lengths)))
    with pytest.raises(ValueError):
        batch_plan(lengths, 0)


def test_run_all_returns_each_utterance_unpadded_in_input_order():
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((t, 3)).astype(np.float32) for t in (4, 1, 6, 2)]
    calls: list[tuple[int, int]] = []
    out = run_all(_model(calls), feats, 2, by_length=True)
    assert [o.shape for o in out] == [f.shape for f in feats] and all(np.array_equal(o, f) for o, f in zip(out, feats))
    assert calls == [(2, 2), (2, 6)]  # lengths 1, 2 then 4, 6
    assert [idx for idx, _ in run_batches(_model([]), feats, 3)] == [[0, 1, 2], [3]]


def test_format_and_runner_modules_import_without_torch():
    code = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def guard(name, *a, **k):\n"
        "    if name.split('.')[0] == 'torch': raise ImportError('no torch here')\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = guard\n"
        "import signdistill.formats, signdistill.runner, signdistill.decoding.decode\n"
        "assert 'torch' not in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_kind_is_read_from_metadata(tmp_path):
    import json

    from signdistill.errors import CheckpointError
    from signdistill.formats import ONNX_META, model_format, model_kind

    (tmp_path / ONNX_META).write_text(json.dumps({"format": "onnx", "quantization": {"method": "static"}}))
    assert model_kind(tmp_path) == "onnx-int8-static" and model_format(tmp_path) == "onnx"
    with pytest.raises(CheckpointError, match="does not exist"):
        model_kind(tmp_path / "missing")


def test_a_strided_checkpoint_runs_at_its_output_lengths(tmp_path):
    import torch

    from signdistill.checkpoint import save_checkpoint
    from signdistill.formats import load_model
    from signdistill.models import CTCModel, ModelSpec

    torch.manual_seed(0)
    net = CTCModel(ModelSpec(input_dim=3, vocab_size=4, hidden=8, layers=1, input_proj=8, temporal_stride=4)).eval()
    vocab = Vocabulary.build([["A", "B"]])
    model = load_model(save_checkpoint(tmp_path / "m", net, vocab, Normalizer(np.zeros(3), np.ones(3))))
    feats = [np.random.default_rng(t).standard_normal((t, 3)).astype(np.float32) for t in (9, 4, 1)]
    out = run_all(model, feats, 3)
    with torch.no_grad():
        alone = [net(torch.from_numpy(f)[None], torch.tensor([len(f)])) for f in feats]
    assert [len(o) for o in out] == [int(a.lengths[0]) for a in alone] == [3, 1, 1]
    for o, a in zip(out, alone):
        np.testing.assert_allclose(o, torch.log_softmax(a.logits[0], -1).numpy(), atol=1e-5)
