"""CUDA paths: run with `pytest -m gpu` on a machine with a GPU (skipped elsewhere)."""

import pytest
import torch

from signdistill.config import load_config
from signdistill.models import CTCModel, ModelSpec
from tests.conftest import make_run_config

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_exact_padded_bilstm_on_cudnn():
    torch.manual_seed(0)
    model = CTCModel(ModelSpec(input_dim=36, vocab_size=20, hidden=64, layers=3, input_proj=64, dropout=0.0)).cuda().eval()
    lengths = torch.tensor([120, 77, 31, 2], device="cuda")
    x = torch.randn(4, 120, 36, device="cuda")
    with torch.no_grad():
        batched = model(x, lengths).logits
        for b, n in enumerate(lengths.tolist()):
            alone = model(x[b : b + 1, :n], lengths[b : b + 1]).logits[0]
            assert (batched[b, :n] - alone).abs().max().item() < 1e-4
            assert torch.equal(batched[b, :n].argmax(-1), alone.argmax(-1))


@pytest.mark.parametrize("precision", ["fp16", "bf16", "fp32"])
def test_training_precisions_on_cuda(synth, tmp_path, precision):
    from signdistill import pipelines

    cfg = load_config(
        None, [f"train.precision={precision}", "train.device=cuda"], data=make_run_config(tmp_path / precision, synth, epochs=2)
    )
    result, scores = pipelines.train(cfg)
    assert result.epochs_run == 2
    assert all(h["train/skipped_batches"] < 3 for h in result.history)
    best = tmp_path / precision / "best" / "model.safetensors"
    assert best.exists() and 0 <= scores["dev"]["wer"]


def test_distill_on_cuda(synth, trained_teacher, tmp_path):
    from signdistill import pipelines
    from signdistill.config import DistillRunConfig

    data = make_run_config(tmp_path / "s", synth, epochs=1)
    data["train"].update(device="cuda", precision="bf16")
    data["distill"] = {"teachers": [{"checkpoint": str(trained_teacher)}], "loss": {"kl": 0.5, "ctc": 0.5}, "temperature": 1.0}
    result, _ = pipelines.distill(load_config(None, [], DistillRunConfig, data=data))
    assert "train/kl" in result.history[0]
